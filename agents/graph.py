"""The LangGraph state machine: listen -> policy -> (tools -> policy)* -> speak.

One state schema (`AgentState`), small nodes, a SQLite checkpointer by thread id.
Per-turn runtime objects (cancel token, output path) travel in the run's context, not in
the checkpointed state. Every node streams `agents.events` objects through LangGraph's
custom stream, so callers see transcript, text, tool calls/results, voice changes and
audio chunks as they happen.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

import numpy as np
import soundfile as sf
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from agents.events import StageTiming, ToolResult, VoiceChanged
from model.events import AudioTokens, Done, TextDelta, ToolCall, Transcript
from model.messages import (
    AudioPart,
    AudioTokensPart,
    Message,
    TextPart,
    ToolCallPart,
    from_langchain,
    to_langchain,
)
from model.policy import CancelToken, Policy, ToolSpec, VoiceSpec

MAX_TOOL_HOPS = 4


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    voice: dict[str, Any] | None  # VoiceSpec of the active voice
    turn: dict[str, Any]  # this turn's scratch: transcript, tool log, timings, reply
    hops: int


@dataclass
class TurnContext:
    cancel: CancelToken | None = None
    out_path: str | None = None
    audio_dir: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def tool_specs(tools: list[BaseTool]) -> list[ToolSpec]:
    specs = []
    for t in tools:
        fn = convert_to_openai_tool(t)["function"]
        examples = list((t.metadata or {}).get("examples", []))
        specs.append(
            ToolSpec(
                name=fn["name"],
                description=fn.get("description", ""),
                parameters=fn.get("parameters", {}),
                examples=examples,
            )
        )
    return specs


def _emit(event: Any) -> None:
    try:
        get_stream_writer()(event)
    except RuntimeError:  # not running under a stream
        pass


def _timing(turn: dict[str, Any], stage: str, ms: float) -> None:
    t = turn.setdefault("timings_ms", {})
    t[stage] = round(t.get(stage, 0.0) + ms, 1)
    _emit(StageTiming(stage=stage, ms=round(ms, 1)))


def build_graph(policy: Policy, tools: list[BaseTool], checkpointer: Any = None):
    """Compile the agent graph for a policy and a tool set."""
    specs = tool_specs(tools)
    tool_node = ToolNode(tools, handle_tool_errors=lambda e: str(e))

    def listen(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        turn = dict(state.get("turn") or {})
        last = state["messages"][-1]
        msg = from_langchain(last)
        audio = msg.parts_of(AudioPart)
        if not audio or audio[-1].transcript is not None:
            return {"turn": turn}
        t0 = time.perf_counter()
        from model.embedded.vad import trim

        part = audio[-1]
        samples, sr = sf.read(part.path, dtype="float32")
        trimmed, found = trim(samples, sr)
        turn["speech_found"] = found
        new_path = str(Path(part.path).with_suffix("")) + "-vad.wav"
        sf.write(new_path, trimmed, sr)
        part.path, part.duration_s = new_path, round(len(trimmed) / sr, 3)
        if not found:
            part.transcript = ""  # nothing was said: no recognizer should invent words
        _timing(turn, "vad", (time.perf_counter() - t0) * 1000)
        return {"messages": [to_langchain(msg)], "turn": turn}

    def policy_node(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        ctx = runtime.context or TurnContext()
        turn = dict(state.get("turn") or {})
        msgs = [from_langchain(m) for m in state["messages"]]
        voice = VoiceSpec(**state["voice"]) if state.get("voice") else None
        text: list[str] = []
        tokens: list[int] = []
        calls: list[ToolCallPart] = []
        updates: list[AnyMessage] = []
        done: Done | None = None
        t0 = time.perf_counter()
        for ev in policy.stream(msgs, specs, voice=voice, cancel=ctx.cancel):
            _emit(ev)
            if isinstance(ev, Transcript):
                _timing(turn, "asr", (time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                turn["transcript"] = ev.text
                user = next(m for m in reversed(msgs) if m.role == "user")
                for p in user.parts_of(AudioPart):
                    p.transcript = ev.text
                updates.append(to_langchain(user))
            elif isinstance(ev, TextDelta):
                text.append(ev.text)
            elif isinstance(ev, AudioTokens):
                tokens.extend(ev.tokens)
            elif isinstance(ev, ToolCall):
                calls.append(ToolCallPart(id=ev.id, name=ev.name, arguments=ev.arguments))
            elif isinstance(ev, Done):
                done = ev
            if ctx.cancel and ctx.cancel.cancelled:
                done = Done(reason="cancelled")
                break
        _timing(turn, "policy", (time.perf_counter() - t0) * 1000)
        if "transcript" not in turn:
            user = next(m for m in reversed(msgs) if m.role == "user")
            audio = user.parts_of(AudioPart)
            if not user.text and audio and audio[-1].transcript is None:
                # a speech-native policy hears the audio itself; the transcript in the turn's
                # record (and for later text-only consumers) comes from the embedded recognizer
                t1 = time.perf_counter()
                from model.embedded.asr import WhisperASR

                text_heard = WhisperASR().transcribe_file(audio[-1].path)
                _timing(turn, "asr_record", (time.perf_counter() - t1) * 1000)
                audio[-1].transcript = text_heard
                updates.insert(0, to_langchain(user))
                _emit(Transcript(text=text_heard))
            turn["transcript"] = user.text
        info = dict(getattr(policy, "last_info", {}) or {})
        if info:
            turn.setdefault("info", {}).update(info)
        if done is not None:
            turn["done"] = done.reason
            if done.confidence is not None:
                turn["confidence"] = round(done.confidence, 4)
        parts: list[Any] = []
        if text:
            parts.append(TextPart(text="".join(text)))
        if tokens:
            parts.append(AudioTokensPart(tokens=tokens))
        parts.extend(calls)
        if done is not None and done.reason == "cancelled":
            calls.clear()
            parts = [p for p in parts if not isinstance(p, ToolCallPart)]
        ai = Message(role="assistant", parts=parts, id=f"ai-{uuid.uuid4().hex[:12]}")
        updates.append(to_langchain(ai))
        return {"messages": updates, "turn": turn, "hops": state.get("hops", 0) + (1 if calls else 0)}

    def route(state: AgentState) -> str:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls and state.get("hops", 0) <= MAX_TOOL_HOPS:
            return "tools"
        return "speak"

    def after_tools(state: AgentState) -> dict[str, Any]:
        turn = dict(state.get("turn") or {})
        msgs = state["messages"]
        ai_idx = max(i for i, m in enumerate(msgs) if isinstance(m, AIMessage))
        calls = {c["id"]: c for c in msgs[ai_idx].tool_calls}
        log = list(turn.get("tool_calls", []))
        out: dict[str, Any] = {}
        for m in msgs[ai_idx + 1 :]:
            if not isinstance(m, ToolMessage):
                continue
            call = calls.get(m.tool_call_id, {})
            content = m.content if isinstance(m.content, str) else str(m.content)
            is_error = m.status == "error"
            log.append({"name": m.name, "arguments": call.get("args", {}), "result": content, "is_error": is_error})
            _emit(ToolResult(id=m.tool_call_id, name=m.name or "", content=content, is_error=is_error))
            if m.name == "audio_search" and not is_error:
                voice = _voice_from_result(content)
                if voice is not None:
                    out["voice"] = voice.model_dump()
                    _emit(VoiceChanged(voice_id=voice.voice_id, name=voice.name, attributes=voice.attributes))
        turn["tool_calls"] = log
        out["turn"] = turn
        return out

    def tools_node(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        t0 = time.perf_counter()
        result = tool_node.invoke(state)  # the policy node already announced the calls
        turn = dict(state.get("turn") or {})
        _timing(turn, "tools", (time.perf_counter() - t0) * 1000)
        return {**result, "turn": turn}

    def speak(state: AgentState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        ctx = runtime.context or TurnContext()
        turn = dict(state.get("turn") or {})
        ai = from_langchain(state["messages"][-1])
        reply = ai.text if ai.role == "assistant" else ""
        turn["reply_text"] = reply
        if ctx.cancel and ctx.cancel.cancelled:
            turn.setdefault("info", {})["cancelled"] = True
            return {"turn": turn}
        voice = VoiceSpec(**state["voice"]) if state.get("voice") else None
        speaker = policy.speaker()
        t0 = time.perf_counter()
        chunks: list[np.ndarray] = []
        rate = speaker.sample_rate
        for chunk in speaker.speak(reply, ai.audio_tokens, voice):
            if not chunks:
                _timing(turn, "tts_first_chunk", (time.perf_counter() - t0) * 1000)
            chunks.append(chunk.samples)
            rate = chunk.sample_rate
            _emit(chunk)
            if ctx.cancel and ctx.cancel.cancelled:
                turn.setdefault("info", {})["cancelled"] = True
                break
        _timing(turn, "tts", (time.perf_counter() - t0) * 1000)
        info = getattr(speaker, "last_info", None) or getattr(policy, "last_info", {}) or {}
        if "speech" in info:
            turn.setdefault("info", {})["speech"] = info["speech"]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        out = ctx.out_path
        if out is None and ctx.audio_dir:
            out = str(Path(ctx.audio_dir) / f"reply-{uuid.uuid4().hex[:12]}.wav")
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            sf.write(out, audio, rate, subtype="PCM_16")
            turn["reply_audio"] = str(out)
        turn["reply_sample_rate"] = rate
        turn["reply_duration_s"] = round(len(audio) / rate, 3)
        return {"turn": turn}

    g = StateGraph(AgentState, context_schema=TurnContext)
    g.add_node("listen", listen)
    g.add_node("policy", policy_node)
    g.add_node("tools", tools_node)
    g.add_node("after_tools", after_tools)
    g.add_node("speak", speak)
    g.add_edge(START, "listen")
    g.add_edge("listen", "policy")
    g.add_conditional_edges("policy", route, {"tools": "tools", "speak": "speak"})
    g.add_edge("tools", "after_tools")
    g.add_edge("after_tools", "policy")
    g.add_edge("speak", END)
    return g.compile(checkpointer=checkpointer)


def _voice_from_result(content: str) -> VoiceSpec | None:
    import json

    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return None
    voices = data.get("voices") if isinstance(data, dict) else None
    if not voices:
        return None
    v = voices[0]
    return voice_spec_from_attrs(v)


def voice_spec_from_attrs(v: dict[str, Any]) -> VoiceSpec:
    keep = ("gender", "age_band", "style", "description", "language", "tags")
    return VoiceSpec(
        voice_id=str(v.get("id")),
        name=v.get("name"),
        prompt_path=v.get("audio_path"),
        pitch_hz=v.get("median_f0_hz"),
        speaking_rate=v.get("speaking_rate"),
        attributes={k: v[k] for k in keep if v.get(k) is not None},
    )


def user_message(audio_path: str | None = None, sample_rate: int = 16000, duration_s: float = 0.0,
                 text: str | None = None) -> HumanMessage:
    parts: list[Any] = []
    if audio_path:
        parts.append(AudioPart(path=audio_path, sample_rate=sample_rate, duration_s=duration_s))
    if text:
        parts.append(TextPart(text=text))
    return to_langchain(Message(role="user", parts=parts, id=f"user-{uuid.uuid4().hex[:12]}"))
