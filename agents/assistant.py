"""`Assistant`: the graph, its checkpointer and its tools behind two calls.

`stream_turn(samples, rate, thread_id=...)` yields `model.events` as the turn runs;
`respond(...)` runs a turn and returns its `TurnResult`; `astream_turn` / `arespond` are
their async forms. Audio arrives decoded (16 kHz mono float32 is what the graph stores;
other rates are resampled here).

A turn that needs a person (a tool call waiting for approval, a handoff to a human) pauses:
it says so, ends with `TurnResult.waiting`, and the conversation stays paused (in the
checkpoint, across restarts) until `resume(thread_id, decision)`. While it waits, a spoken
"yes"/"no" is the approval decision; anything else is answered with what it waits for.

A turn holds its conversation (`ThreadStore.lock`: across processes too) from start to end,
heals what an older version left half-written (`agents.repair`), and is checkpointed once,
when it ends (`durability="exit"`); a turn that fails is rolled back (`ThreadStore.rollback`).
Its recordings go to the thread's own directory (`agents.recordings`).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.messages import AIMessage, RemoveMessage
from langchain_core.tools import BaseTool
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.store.base import BaseStore
from langgraph.types import Command

from agents.aio import AsyncTurns
from agents.approval import (
    DecisionError,
    decisions,
    needing_approval,
    spoken_decision,
    waiting_of,
    waiting_sentence,
)
from agents.graph import build_graph
from agents.messages import heard_reply, to_langchain
from agents.persistence import open_backend
from agents.policy_settings import policy_settings
from agents.record import TurnRecorder
from agents.recordings import store_input, thread_audio_dir
from agents.repair import whole_turns
from agents.speaking import speak_text
from agents.state import TurnContext
from agents.threads import ThreadStore, check_thread_id
from agents.tools import default_tools, voice_spec_from_attrs
from agents.tools.handoff import operator_answer
from agents.tools.mcp import MCPTools
from agents.tools.memory import DEFAULT_USER
from agents.tools.plugins import load_tools
from core.settings import MCPServer, get_settings
from model.embedded.asr import WhisperASR
from model.embedded.vad import trim
from model.events import Event, TextDelta, Transcript, TurnDone, TurnResult, Waiting
from model.messages import AudioPart, Message, TextPart
from model.policy import CancelToken, Policy, VoiceSpec
from model.registry import check_options, get_policy
from retrieval import CorpusStore
from voices import VoiceLibrary

MAX_TOOL_ROUNDS = 4
ESCALATE_AFTER = 3  # unsure replies in a row before a person is asked to help


class Assistant(AsyncTurns):
    def __init__(
        self,
        policy: Policy,
        home: str | Path,
        tools: list[BaseTool] | None = None,
        extra_tools: list[BaseTool] | None = None,
        tool_timeout_s: float = 8.0,
        *,
        max_tool_rounds: int = MAX_TOOL_ROUNDS,
        reranker: str | None = None,
        turn_wait_s: float = 120.0,
        retention_days: float | None = None,
        escalate_after: int = ESCALATE_AFTER,
        approve_tools: list[str] | tuple[str, ...] = (),
        mcp_servers: Mapping[str, MCPServer] | None = None,
        checkpointer: Any = None,
        store: BaseStore | None = None,
        user_id: str = DEFAULT_USER,
    ) -> None:
        """`checkpointer`: None or "sqlite" (`<home>/conversations.sqlite`), a postgresql:// URL,
        or a LangGraph checkpointer object (used as given; its owner closes it). `store`: the
        long-term memory (a LangGraph `BaseStore`, used as given); None: the one that goes with
        the checkpointer (agents.persistence). `user_id`: whose memories the turns reach."""
        self.policy = policy
        self.home = Path(home)
        self.user_id = user_id
        # conversations: checkpoints (0600), recordings (0700 per thread), turn locks
        self.threads = ThreadStore(self.home, wait_s=turn_wait_s, checkpointer=checkpointer)
        self._close_store: Any = None
        if store is None:
            try:
                store, self._close_store = self.threads.backend.open_store()
            except BaseException:
                self.threads.close()
                raise
        self.store = store
        if retention_days:
            self.threads.prune(retention_days * 86400)
        self.audio_dir = self.threads.audio_dir
        # long-lived stores, owned here and handed to the tools (opening them is cheap; their
        # indexes load on first use and follow changes other processes commit)
        self.corpus = CorpusStore(self.home / "corpora", reranker=reranker)
        self.voices = VoiceLibrary(self.home / "voices")
        if tools is None:
            tools = default_tools(self.home, tool_timeout_s, corpus=self.corpus, voices=self.voices)
        # the MCP servers' tools (agents.tools.mcp): a server that fails is left out with a
        # warning (`self.mcp.errors`), unless it is `required` (MCPServerError)
        try:
            self.mcp = MCPTools(mcp_servers or {}, timeout=tool_timeout_s,
                                reserved=[t.name for t in [*tools, *(extra_tools or [])]])
        except BaseException:
            self.close(mcp=False)
            raise
        self.tools = needing_approval([*tools, *self.mcp.tools, *(extra_tools or [])], approve_tools)
        self.checkpointer = self.threads.saver
        # listen + respond, a tools + respond pair per round, and one step to spare: the
        # respond node stops calling tools when fewer than 3 steps remain
        self.recursion_limit = 3 + 2 * max(0, max_tool_rounds)
        self.transcriber = WhisperASR().transcribe_file
        self.graph = build_graph(
            policy, self.tools, self.checkpointer, store=self.store, transcriber=self.transcriber,
            escalate_after=escalate_after,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        policy_name: str | None = None,
        extra_tools: list[BaseTool] | None = None,
        *,
        checkpointer: Any = None,
        store: BaseStore | None = None,
        **policy_options: Any,
    ) -> Assistant:
        """An assistant as the settings describe it (`get_settings()` when None). Keywords not
        named here go to the policy's constructor and must be among its parameters (TypeError
        naming the unknown one otherwise). `checkpointer`/`store` as in `Assistant(...)`;
        None: the `checkpointer` setting (STEPVOX_CHECKPOINTER) decides."""
        if settings is None:
            settings = get_settings()
        name = policy_name or settings.policy
        try:  # before anything loads or connects
            check_options(name, policy_options)
        except TypeError as e:
            raise TypeError(f"Assistant.from_settings: {e} (and settings, policy_name, extra_tools, "
                            "checkpointer, store)") from None
        opts = {**policy_settings(settings, name, policy_options), **policy_options}
        tools = [*load_tools(settings.tools), *(extra_tools or [])]  # bad entries: before any model
        # the database first: an unreachable server is refused before a model loads
        backend = open_backend(settings.checkpointer if checkpointer is None else checkpointer, settings.home)
        try:
            policy = get_policy(name, **opts)
        except BaseException:
            backend.close()
            raise
        return cls(
            policy, settings.home, extra_tools=tools,
            tool_timeout_s=settings.tool_timeout_s, reranker=settings.reranker,
            turn_wait_s=settings.turn_wait_s, retention_days=settings.retention_days,
            escalate_after=settings.escalate_after, approve_tools=settings.approve_tools,
            mcp_servers=settings.mcp_servers, checkpointer=backend, store=store,
        )  # fmt: skip

    def warmup(self, cancel: CancelToken | None = None) -> None:
        """Load every model once (VAD, ASR, embeddings, TTS) so the first turn is not slow;
        `cancel` stops it (the turn ends at its next event)."""
        silence = np.zeros(8000, np.float32)
        try:
            self.respond(text="what time is it", thread_id="__warmup__", cancel=cancel)
            if cancel is not None and cancel.cancelled:
                return
            trim(silence, 16000)
            asr = getattr(self.policy, "asr", None)
            if asr is not None:
                asr.transcribe(silence + 1e-4, 16000)
        finally:
            with contextlib.suppress(Exception):
                self.threads.delete("__warmup__")

    def close(self, *, mcp: bool = True) -> None:
        if mcp:
            self.mcp.close()
        if self._close_store is not None:
            self._close_store()
            self._close_store = None
        self.threads.close()
        self.corpus.close()
        self.voices.close()

    # -- input ----------------------------------------------------------------------
    def _config(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id, "user_id": self.user_id},
                "recursion_limit": self.recursion_limit}

    def voice_of(self, thread_id: str) -> dict[str, Any] | None:
        """The thread's active voice (a VoiceSpec dump), or None for the default voice."""
        snap = self.graph.get_state(self._config(thread_id))
        return (snap.values or {}).get("voice") if snap else None

    def set_voice(self, thread_id: str, voice_id: str) -> dict[str, Any]:
        """Make a library voice the thread's active voice (the CLI's --voice); KeyError when the
        library has no such voice (checked before the conversation is touched)."""
        check_thread_id(thread_id)
        self._voice(voice_id)
        with self.threads.lock(thread_id):
            return self._set_voice(thread_id, voice_id)

    def _voice(self, voice_id: str) -> Any:
        v = self.voices.get(voice_id) or self.voices.find_by_name(voice_id)
        if v is None:
            raise KeyError(voice_id)
        return v

    def _set_voice(self, thread_id: str, voice_id: str) -> dict[str, Any]:
        spec = voice_spec_from_attrs(self._voice(voice_id).model_dump(mode="json"))
        self.graph.update_state(self._config(thread_id), {"voice": spec.model_dump()})
        return spec.model_dump()

    def _make_whole(self, config: dict[str, Any], snap: Any) -> None:
        """Drop what is not a whole turn from the stored conversation (see agents.repair)."""
        fixed = whole_turns(list((snap.values or {}).get("messages", [])))
        if fixed is not None:
            update = [RemoveMessage(id=REMOVE_ALL_MESSAGES), *fixed]
            self.graph.update_state(config, {"messages": update}, as_node="respond")

    # -- turns ------------------------------------------------------------------------
    def stream_turn(
        self,
        audio: np.ndarray | None = None,
        sample_rate: int = 16000,
        *,
        thread_id: str,
        text: str | None = None,
        voice_id: str | None = None,
        cancel: CancelToken | None = None,
        out_path: str | Path | None = None,
    ) -> Iterator[Event]:
        """Run one turn, yielding its events as they happen; the last is `TurnDone`.

        Turns of one conversation run one at a time, in this process and across processes: a
        turn waits for the one before it (up to `turn_wait_s`, then `ThreadBusy`). A turn that
        raises (e.g. `PolicyUnavailable`) leaves the conversation as it was."""
        t_start = time.perf_counter()
        check_thread_id(thread_id)
        with self.threads.lock(thread_id):
            yield from self._turn(t_start, audio, sample_rate, thread_id, text, voice_id,
                                  cancel, out_path)

    def _turn(self, t_start, audio, sample_rate, thread_id, text, voice_id, cancel,
              out_path) -> Iterator[Event]:
        config = self._config(thread_id)
        snap = self.graph.get_state(config)  # read once: what it waits for, and whole turns
        waiting = waiting_of(snap.interrupts)
        if waiting is None:
            self._make_whole(config, snap)  # a turn an older version left half-written
        if voice_id:
            self._set_voice(thread_id, voice_id)
        where = thread_audio_dir(self.audio_dir, thread_id)
        parts: list[Any] = []
        if audio is not None:
            path, dur = store_input(audio, sample_rate, where)
            parts.append(AudioPart(path=path, sample_rate=16000, duration_s=dur))
        if text or audio is None:
            parts.append(TextPart(text=text or ""))
        msg = Message(role="user", parts=parts, id=f"user-{uuid.uuid4().hex[:12]}")
        rec = self._recorder(thread_id, text or "", t_start)
        ctx = TurnContext(cancel=cancel, audio_dir=str(where))
        out = out_path or where / f"reply-{uuid.uuid4().hex[:12]}.wav"
        if waiting is None:
            yield from self._run({"messages": [to_langchain(msg)]}, thread_id, ctx, rec, out)
            return
        # paused for a person: a spoken yes/no decides an approval; the rest hears what it waits for
        heard = text if text else self.transcriber(parts[0].path)
        rec.add(Transcript(text=heard))
        yield Transcript(text=heard)
        decision = spoken_decision(heard) if waiting.kind == "approval" else None
        if decision is None:
            yield from self._say_waiting(waiting, thread_id, rec, out)
            return
        self._check_tools(thread_id, waiting)
        yield from self._run(Command(resume=decision), thread_id, ctx, rec, out, waiting)

    def _check_tools(self, thread_id: str, waiting: Waiting) -> None:
        """A paused call resumes only where its tool is loaded (else the decision would be
        spent on an unknown-tool error)."""
        have = {t.name for t in self.tools}
        missing = [c.name for c in waiting.calls if c.name not in have]
        if missing:
            raise DecisionError(
                f"thread {thread_id} waits on {missing[0]}, which is not loaded here (load it as "
                "when the question was asked: STEPVOX_TOOLS, an MCP server, or extra_tools=)")

    def _recorder(self, thread_id: str, transcript: str, t_start: float) -> TurnRecorder:
        voice = self.voice_of(thread_id) or {}
        return TurnRecorder(policy=self.policy.name, thread=thread_id,
                            voice=voice.get("voice_id"), transcript=transcript, started=t_start)

    def _run(self, graph_input: Any, thread_id: str, ctx: TurnContext, rec: TurnRecorder,
             out_path: str | Path, resumed: Waiting | None = None) -> Iterator[Event]:
        """Run the graph (a new turn, or a paused one resumed) and yield its events; a turn
        that pauses says what it waits for."""
        config = self._config(thread_id)
        for call in resumed.calls if resumed else []:
            rec.add(call)  # the calls a decision let run: their results name them
        head = self.threads.head(thread_id)
        try:
            # one checkpoint, when the turn ends: a kill midway leaves the conversation as it was
            for ev in self.graph.stream(graph_input, config, context=ctx,
                                        stream_mode="custom", durability="exit"):
                rec.add(ev)
                yield ev
            if ctx.cancel is not None and ctx.cancel.cancelled:
                rec.cancelled = True
            waiting = self.waiting(thread_id)
            if waiting is not None:
                yield from self._say_waiting(waiting, thread_id, rec, out_path)
                return
            result = rec.result(out_path)
        except BaseException:
            # LangGraph saved the state it failed in: forget it (the caller gets the error).
            # Were this process killed first, the next turn's load drops the unfinished turn.
            with contextlib.suppress(Exception):
                self.threads.rollback(thread_id, head)
            raise
        yield TurnDone(result=result)

    def _say_waiting(self, waiting: Waiting, thread_id: str, rec: TurnRecorder,
                     out_path: str | Path) -> Iterator[Event]:
        events: list[Any] = [waiting, TextDelta(text=waiting_sentence(waiting))]
        voice = self.voice_of(thread_id)
        speak_text(self.policy.speaker().segment(VoiceSpec(**voice) if voice else None),
                   events[-1].text, events.append)
        for ev in events:
            rec.add(ev)
            yield ev
        result = rec.result(out_path)
        result.waiting = waiting
        yield TurnDone(result=result)

    # -- a person in the loop ---------------------------------------------------------------
    def waiting(self, thread_id: str) -> Waiting | None:
        """What the conversation is paused for (approval, or a person's answer), or None."""
        snap = self.graph.get_state(self._config(check_thread_id(thread_id)))
        return waiting_of(snap.interrupts) if snap else None

    def stream_resume(self, thread_id: str, decision: Any, *, out_path: str | Path | None = None,
                      cancel: CancelToken | None = None) -> Iterator[Event]:
        """Continue a paused conversation: for an approval, `decision` approves or denies the
        calls (True/False, "approve"/"deny", {"approved": bool, "reason": str}, or one of
        those per call id); for a handoff, it is the person's answer ("text" or
        {"reply": "text"}), said in the conversation's voice. DecisionError (one line) when
        the thread waits for nothing or the decision does not fit what it waits for."""
        t_start = time.perf_counter()
        with self.threads.lock(check_thread_id(thread_id)):
            waiting = self.waiting(thread_id)
            if waiting is None:
                raise DecisionError(f"thread {thread_id}: not waiting for anyone")
            if waiting.kind == "approval":
                decisions(decision, [{"id": c.id} for c in waiting.calls])  # checked first
                self._check_tools(thread_id, waiting)
            else:
                try:
                    operator_answer(decision)
                except Exception as e:
                    raise DecisionError(f"reply to thread {thread_id}: {e}") from None
            where = thread_audio_dir(self.audio_dir, thread_id)
            rec = self._recorder(thread_id, "", t_start)
            ctx = TurnContext(cancel=cancel, audio_dir=str(where))
            out = out_path or where / f"reply-{uuid.uuid4().hex[:12]}.wav"
            yield from self._run(Command(resume=decision), thread_id, ctx, rec, out, waiting)

    def resume(self, thread_id: str, decision: Any, *, out_path: str | Path | None = None,
               cancel: CancelToken | None = None) -> TurnResult:
        return _result(self.stream_resume(thread_id, decision, out_path=out_path, cancel=cancel))

    def mark_heard(self, thread_id: str, seconds: float, texts: list[str | None],
                   durations: list[float]) -> None:
        """The user barged in while the last reply was playing: keep in the conversation only
        what was heard. `texts`/`durations` describe the reply's audio chunks in order (a chunk's
        text when the speaker knew it); `seconds` is how much of the reply was played."""
        # best effort (the full reply stays when it cannot): never wait long behind another turn
        with self.threads.lock(check_thread_id(thread_id), wait_s=min(5.0, self.threads.wait_s)):
            self._mark_heard(thread_id, seconds, texts, durations)

    def _mark_heard(self, thread_id: str, seconds: float, texts: list[str | None],
                    durations: list[float]) -> None:
        config = self._config(thread_id)
        snap = self.graph.get_state(config)
        if waiting_of(snap.interrupts) is not None:
            return  # what played was what it waits for (not stored); the pending calls stay
        messages = (snap.values or {}).get("messages", [])
        last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        total = sum(durations)
        if last is None or total <= 0 or seconds >= total:
            return
        msg = heard_reply(last, seconds, texts, durations)
        msg.response_metadata["interrupted"] = True
        self.graph.update_state(config, {"messages": [msg]}, as_node="respond")

    def respond(
        self,
        audio: np.ndarray | None = None,
        sample_rate: int = 16000,
        *,
        thread_id: str,
        text: str | None = None,
        out_path: str | Path | None = None,
        voice_id: str | None = None,
        cancel: CancelToken | None = None,
    ) -> TurnResult:
        return _result(self.stream_turn(
            audio, sample_rate, thread_id=thread_id, text=text, voice_id=voice_id, cancel=cancel,
            out_path=out_path))

    def history(self, thread_id: str) -> list[Any]:
        snap = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        return list(snap.values.get("messages", [])) if snap and snap.values else []

    def list_voices(self) -> list[dict[str, Any]]:
        return [v.model_dump(mode="json") for v in self.voices.list()]

    def add_corpus(self, paths: list[str | Path], name: str = "default") -> dict[str, Any]:
        report = self.corpus.add([Path(p) for p in paths], name=name)
        return report.model_dump(mode="json")


def _result(events: Iterator[Event]) -> TurnResult:
    result = None
    for ev in events:
        if isinstance(ev, TurnDone):
            result = ev.result
    assert result is not None
    return result
