"""The graph's nodes: small functions over `AgentState`, each streaming its events.

- `listen`: VAD-trims the newest user recording (an empty transcript when nothing was said).
- `respond`: one policy generation, spoken as it is generated (`agents.speaking`); the
  reply becomes an AIMessage holding what was actually heard. A speech-native policy hears
  the audio itself; the transcript kept for the record is made in the background after
  the first audio went out, and stored on the user message. When LangGraph's
  `remaining_steps` is too low for another tool round, the calls get error results and
  the turn ends with a spoken reply, so no tool call is left without a result.
- `approve` (agents.approval) pauses for a person when a call needs approval; `escalate`
  (agents.escalation) hands the conversation to a person after too many unsure answers.
- tools: `langgraph.prebuilt.ToolNode` with `tool_events`, which refuses a gated call nobody
  approved, and announces each result (and a voice change, when a tool's `Command` updated
  the voice) on the stream.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.config import get_stream_writer
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from agents.approval import gated_names, refusal
from agents.escalation import HANDOFF, unsure_streak
from agents.messages import from_langchain, to_langchain
from agents.recordings import write_wav
from agents.speaking import Generation, speak_generation, speak_text
from agents.state import AgentState, TurnContext, active_voice, turn_context
from core.audio import load
from model.embedded.vad import trim
from model.events import Done, TextDelta, Timing, ToolResult, Transcript, VoiceChanged
from model.messages import AudioPart, AudioTokensPart, Message, TextPart
from model.policy import Policy, ToolSpec

STEP_LIMIT_REPLY = "Sorry, that took more steps than I'm allowed, so I stopped there."
STEP_LIMIT_RESULT = "not run: the turn reached its step limit"

Transcriber = Callable[[str], str]


def writer() -> Callable[[Any], None]:
    try:
        return get_stream_writer()
    except RuntimeError:  # called outside a graph run
        return lambda _ev: None


def _last_user(msgs: list[Message]) -> Message:
    return next(m for m in reversed(msgs) if m.role == "user")


def listen(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Trim silence around the newest recording; mark "nothing said" as an empty transcript."""
    msg = from_langchain(state["messages"][-1])
    audio = msg.parts_of(AudioPart)
    if msg.role != "user" or not audio or audio[-1].transcript is not None:
        return {}
    t0 = time.perf_counter()
    part = audio[-1]
    samples, sr = load(part.path, 16000)
    trimmed, found = trim(samples, sr)
    new_path = str(Path(part.path).with_suffix("")) + "-vad.wav"
    write_wav(new_path, trimmed, sr)
    part.path, part.duration_s = new_path, round(len(trimmed) / sr, 3)
    emit = writer()
    if not found:
        part.transcript = ""  # nothing was said: no recognizer should invent words
        emit(Transcript(text=""))
    emit(Timing(stage="vad", ms=round((time.perf_counter() - t0) * 1000, 1)))
    return {"messages": [to_langchain(msg)]}


class RecordTranscripts:
    """Transcripts for the record of speech-native turns, made in the background.

    A job starts when the turn's first audio has gone out (or when a generation ends in a
    tool call, so it runs while the tools do); the turn waits for it only once its last
    generation has been spoken. A failed transcription is recorded as empty, never as a
    failed turn."""

    def __init__(self, transcriber: Transcriber, workers: int = 2) -> None:
        self.transcriber = transcriber
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="transcript")
        self.jobs: dict[str, tuple[Future, float]] = {}  # by recording path

    def start(self, path: str) -> None:
        if path not in self.jobs:
            self.jobs[path] = (self.pool.submit(self.transcriber, path), time.perf_counter())

    def result(self, path: str) -> tuple[str, float]:
        self.start(path)
        job, t0 = self.jobs.pop(path)
        try:
            text = job.result()
        except Exception:  # noqa: BLE001 - the record is best effort; the turn goes on
            text = ""
        return text, (time.perf_counter() - t0) * 1000


def make_respond(
    policy: Policy, specs: list[ToolSpec], transcriber: Transcriber | None = None
) -> Callable[..., dict[str, Any]]:
    """The `respond` node for a policy and its tools' specs."""
    records = RecordTranscripts(transcriber) if transcriber is not None else None
    gated = gated_names(specs)

    def respond(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        ctx = turn_context(runtime.context)  # a parent app's context works too
        emit = writer()
        msgs = [from_langchain(m) for m in state["messages"]]
        user = _last_user(msgs)
        audio = user.parts_of(AudioPart)
        unheard = audio[-1] if audio and audio[-1].transcript is None and not user.text else None
        if ctx.cancel is not None and ctx.cancel.cancelled:  # barged in before we began
            ai = AIMessage(content="", id=f"ai-{uuid.uuid4().hex[:12]}")
            ai.response_metadata["interrupted"] = True
            emit(Done(reason="cancelled"))
            return {"messages": [ai]}

        def start_record() -> None:
            # the speech-native policy is already speaking: transcribe for the record now
            if unheard is not None and records is not None:
                records.start(unheard.path)

        gen = speak_generation(
            policy, msgs, specs, voice=active_voice(state), cancel=ctx.cancel, emit=emit,
            on_first_audio=start_record,
        )
        # tools (after approval, when a call needs it) and another respond must still fit
        # before LangGraph's limit (remaining >= 1)
        needed = 4 if any(c.name in gated for c in gen.calls) else 3
        at_limit = bool(gen.calls) and state.get("remaining_steps", 99) < needed
        last = not gen.calls or at_limit  # this generation ends the turn
        updates: list[Any] = []
        if gen.transcript is not None and unheard is not None:
            unheard.transcript = gen.transcript
            updates.append(to_langchain(user))
        elif unheard is not None and records is not None:
            if not last:
                start_record()  # runs while the tools do; the last generation collects it
            else:
                unheard.transcript, ms = records.result(unheard.path)
                emit(Transcript(text=unheard.transcript))
                emit(Timing(stage="asr_record", ms=round(ms, 1)))
                updates.append(to_langchain(user))
        updates.append(_reply_message(gen))
        if at_limit:
            updates += _stop_at_step_limit(gen, policy, state, emit)
        return {"messages": updates}

    return respond


def _reply_message(gen: Generation) -> Any:
    text, tokens = gen.heard()
    parts: list[Any] = []
    if text:
        parts.append(TextPart(text=text))
    if tokens:
        parts.append(AudioTokensPart(tokens=tokens))
    parts += gen.calls  # the policy's ToolCall events are the message's tool-call parts
    ai = to_langchain(Message(role="assistant", parts=parts, id=f"ai-{uuid.uuid4().hex[:12]}"))
    if gen.cancelled:
        ai.response_metadata["interrupted"] = True
    elif not gen.calls and gen.done.info.get("unsure"):
        ai.response_metadata["unsure"] = True  # counted by the escalation rule
    return ai


def _stop_at_step_limit(gen: Generation, policy: Policy, state: AgentState, emit) -> list[Any]:
    """Answer every pending call with an error result and end the turn with a spoken reply."""
    out: list[Any] = []
    for c in gen.calls:
        out.append(ToolMessage(content=STEP_LIMIT_RESULT, tool_call_id=c.id, name=c.name,
                               status="error"))
        emit(ToolResult(id=c.id, name=c.name, content=STEP_LIMIT_RESULT, is_error=True))
    emit(TextDelta(text=STEP_LIMIT_REPLY))
    speak_text(policy.speaker().segment(active_voice(state)), STEP_LIMIT_REPLY, emit)
    out.append(AIMessage(content=STEP_LIMIT_REPLY, id=f"ai-{uuid.uuid4().hex[:12]}"))
    return out


def make_route(specs: list[ToolSpec], escalate_after: int = 0) -> Callable[[AgentState], str]:
    """After `respond`: tool calls go to `approve` (when one needs a person) or `tools`; a
    turn that ends unsure for the `escalate_after`-th time in a row goes to `escalate` (when
    the tool set can hand off to a person); anything else ends the turn."""
    gated = gated_names(specs)
    can_escalate = escalate_after > 0 and any(s.name == HANDOFF for s in specs)

    def route(state: AgentState) -> str:
        last = state["messages"][-1] if state.get("messages") else None
        if isinstance(last, AIMessage) and last.tool_calls:
            return "approve" if any(c["name"] in gated for c in last.tool_calls) else "tools"
        if can_escalate and unsure_streak(state["messages"]) >= escalate_after:
            return "escalate"
        return "__end__"

    return route


def tool_events(request: ToolCallRequest, execute: Callable[[ToolCallRequest], Any]) -> Any:
    """`ToolNode(wrap_tool_call=...)`: run one call, then announce its result and any voice
    change its `Command` made (from the update, whatever the tool's name)."""
    emit = writer()
    t0 = time.perf_counter()
    gated = request.tool is not None and (request.tool.metadata or {}).get("approval")
    out = (refusal(request.tool_call, request.state) if gated else None) or execute(request)
    emit(Timing(stage="tools", ms=round((time.perf_counter() - t0) * 1000, 1)))
    call = request.tool_call
    messages = out.update.get("messages", []) if isinstance(out, Command) else [out]
    for m in messages:
        if isinstance(m, ToolMessage):
            content = m.content if isinstance(m.content, str) else str(m.content)
            emit(ToolResult(id=m.tool_call_id, name=m.name or call["name"], content=content,
                            is_error=m.status == "error"))
    voice = out.update.get("voice") if isinstance(out, Command) else None
    if voice:
        emit(VoiceChanged(voice_id=str(voice.get("voice_id")), name=voice.get("name"),
                          attributes=dict(voice.get("attributes") or {})))
    return out
