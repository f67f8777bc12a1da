"""`Assistant`: the graph, its checkpointer and its tools behind two calls.

`stream_turn(samples, rate, thread_id=...)` yields `model.events` as the turn runs;
`respond(...)` runs a turn and returns its `TurnResult`. Audio arrives decoded (16 kHz
mono float32 is what the graph stores; other rates are resampled here).

A turn holds its conversation (`ThreadStore.lock`: across processes too) from start to end,
heals what an older version left half-written (`agents.repair`), and is checkpointed once,
when it ends (`durability="exit"`); a turn that fails is rolled back (`ThreadStore.rollback`).
Its recordings go to the thread's own directory (`agents.recordings`).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.messages import AIMessage, RemoveMessage
from langchain_core.tools import BaseTool
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from agents.graph import build_graph
from agents.messages import from_langchain, to_langchain
from agents.record import TurnRecorder
from agents.recordings import thread_audio_dir, write_wav
from agents.repair import whole_turns
from agents.state import TurnContext
from agents.threads import ThreadStore, check_thread_id
from agents.tools import default_tools, voice_spec_from_attrs
from core.audio import resample, to_mono
from core.settings import get_settings
from model.embedded.asr import WhisperASR
from model.embedded.vad import trim
from model.events import Event, TurnDone, TurnResult
from model.messages import AudioPart, AudioTokensPart, Message, TextPart
from model.policy import CancelToken, Policy
from model.registry import get_policy
from retrieval import CorpusStore
from voices import VoiceLibrary

MAX_TOOL_ROUNDS = 4


class Assistant:
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
    ) -> None:
        self.policy = policy
        self.home = Path(home)
        # conversations: checkpoints (0600), recordings (0700 per thread), turn locks
        self.threads = ThreadStore(self.home, wait_s=turn_wait_s)
        if retention_days:
            self.threads.prune(retention_days * 86400)
        self.audio_dir = self.threads.audio_dir
        # long-lived stores, owned here and handed to the tools (opening them is cheap; their
        # indexes load on first use and follow changes other processes commit)
        self.corpus = CorpusStore(self.home / "corpora", reranker=reranker)
        self.voices = VoiceLibrary(self.home / "voices")
        if tools is None:
            tools = default_tools(self.home, tool_timeout_s, corpus=self.corpus, voices=self.voices)
        self.tools = [*tools, *(extra_tools or [])]
        self.checkpointer = self.threads.saver
        # listen + respond, a tools + respond pair per round, and one step to spare: the
        # respond node stops calling tools when fewer than 3 steps remain
        self.recursion_limit = 3 + 2 * max(0, max_tool_rounds)
        self.graph = build_graph(
            policy, self.tools, self.checkpointer, transcriber=WhisperASR().transcribe_file
        )

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        policy_name: str | None = None,
        extra_tools: list[BaseTool] | None = None,
        **policy_options: Any,
    ) -> Assistant:
        if settings is None:
            settings = get_settings()
        name = policy_name or settings.policy
        opts: dict[str, Any] = {}
        if name == "embedded":
            opts = {"route_threshold": settings.route_threshold, "answer_threshold": settings.answer_threshold}
        elif name == "step-audio-2":
            opts = {
                "model_dir": settings.model_dir,
                "device": settings.device,
                "dtype": settings.dtype,
                "max_new_tokens": settings.max_new_tokens,
                "temperature": settings.temperature,
                "token2wav_dir": settings.token2wav_dir,
            }
        elif name == "remote":
            opts = {
                "base_url": settings.remote_url,
                "model": settings.remote_model,
                "api_key": settings.remote_api_key,
                "temperature": settings.temperature,
                "token2wav_dir": settings.token2wav_dir,
            }
        opts.update(policy_options)
        return cls(
            get_policy(name, **opts), settings.home, extra_tools=extra_tools,
            tool_timeout_s=settings.tool_timeout_s, reranker=settings.reranker,
            turn_wait_s=settings.turn_wait_s, retention_days=settings.retention_days,
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

    def close(self) -> None:
        self.threads.close()
        self.corpus.close()
        self.voices.close()

    # -- input ----------------------------------------------------------------------
    @staticmethod
    def _store_audio(samples: np.ndarray, sample_rate: int, where: Path) -> tuple[str, float]:
        samples = resample(to_mono(np.asarray(samples, dtype=np.float32)), sample_rate, 16000)
        digest = hashlib.sha256(samples.tobytes()).hexdigest()[:20]
        path = where / f"in-{digest}.wav"
        if not path.exists():  # written whole or not at all (write_wav renames into place)
            write_wav(path, samples, 16000, subtype="FLOAT")
        return str(path), len(samples) / 16000

    def _config(self, thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": self.recursion_limit}

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

    def _make_whole(self, config: dict[str, Any]) -> None:
        """Drop what is not a whole turn from the stored conversation (see agents.repair)."""
        snap = self.graph.get_state(config)
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
        self._make_whole(config)  # a turn an older version left half-written
        if voice_id:
            self._set_voice(thread_id, voice_id)
        where = thread_audio_dir(self.audio_dir, thread_id)
        parts: list[Any] = []
        if audio is not None:
            path, dur = self._store_audio(audio, sample_rate, where)
            parts.append(AudioPart(path=path, sample_rate=16000, duration_s=dur))
        if text or audio is None:
            parts.append(TextPart(text=text or ""))
        msg = Message(role="user", parts=parts, id=f"user-{uuid.uuid4().hex[:12]}")
        voice = self.voice_of(thread_id) or {}
        rec = TurnRecorder(policy=self.policy.name, thread=thread_id,
                           voice=voice.get("voice_id"), transcript=text or "", started=t_start)
        ctx = TurnContext(cancel=cancel, audio_dir=str(where))
        head = self.threads.head(thread_id)
        try:
            # one checkpoint, when the turn ends: a kill midway leaves the conversation as it was
            for ev in self.graph.stream({"messages": [to_langchain(msg)]}, config, context=ctx,
                                        stream_mode="custom", durability="exit"):
                rec.add(ev)
                yield ev
            if cancel is not None and cancel.cancelled:
                rec.cancelled = True
            result = rec.result(out_path or where / f"reply-{uuid.uuid4().hex[:12]}.wav")
        except BaseException:
            # LangGraph saved the state it failed in: forget it (the caller gets the error).
            # Were this process killed first, the next turn's load drops the unfinished turn.
            with contextlib.suppress(Exception):
                self.threads.rollback(thread_id, head)
            raise
        yield TurnDone(result=result)

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
        messages = (self.graph.get_state(config).values or {}).get("messages", [])
        last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        total = sum(durations)
        if last is None or total <= 0 or seconds >= total:
            return
        ai = from_langchain(last)
        starts = np.cumsum([0.0, *durations[:-1]])
        heard = [t for t, s0 in zip(texts, starts, strict=True) if s0 < seconds]
        parts: list[Any] = []
        if texts and all(t is not None for t in texts):
            kept = " ".join(t for t in heard if t)
            if kept:
                parts.append(TextPart(text=kept))
        else:  # speech codes: keep the heard share of the codes and of the text
            share = seconds / total
            text = ai.text
            cut = text.rfind(" ", 0, int(len(text) * share) + 1)
            if cut > 0:
                parts.append(TextPart(text=text[:cut]))
            codes = ai.audio_tokens[: int(len(ai.audio_tokens) * share)]
            if codes:
                parts.append(AudioTokensPart(tokens=codes))
        msg = to_langchain(Message(role="assistant", parts=parts, id=last.id))
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
        result = None
        for ev in self.stream_turn(
            audio, sample_rate, thread_id=thread_id, text=text, voice_id=voice_id, cancel=cancel, out_path=out_path
        ):
            if isinstance(ev, TurnDone):
                result = ev.result
        assert result is not None
        return result

    def history(self, thread_id: str) -> list[Any]:
        snap = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        return list(snap.values.get("messages", [])) if snap and snap.values else []

    def list_voices(self) -> list[dict[str, Any]]:
        return [v.model_dump(mode="json") for v in self.voices.list()]

    def add_corpus(self, paths: list[str | Path], name: str = "default") -> dict[str, Any]:
        report = self.corpus.add([Path(p) for p in paths], name=name)
        return report.model_dump(mode="json")
