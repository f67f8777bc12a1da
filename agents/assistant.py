"""`Assistant`: the graph, its checkpointer and its tools behind two calls.

`stream_turn(samples, rate, thread_id=...)` yields `agents.events` as the turn runs;
`respond(...)` runs a turn and returns its `TurnResult`. Audio arrives decoded (16 kHz
mono float32 is what the graph stores; other rates are resampled here).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from langchain_core.tools import BaseTool
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.events import ToolCallRecord, TurnDone, TurnResult
from agents.graph import TurnContext, build_graph, user_message, voice_spec_from_attrs
from agents.tools import default_tools
from model.events import AudioChunk
from model.policy import CancelToken, Policy, get_policy


class Assistant:
    def __init__(
        self,
        policy: Policy,
        home: str | Path,
        tools: list[BaseTool] | None = None,
        extra_tools: list[BaseTool] | None = None,
        tool_timeout_s: float = 8.0,
    ) -> None:
        self.policy = policy
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.audio_dir = self.home / "audio"
        self.audio_dir.mkdir(exist_ok=True)
        self.tools = list(tools if tools is not None else default_tools(self.home, tool_timeout_s))
        self.tools += list(extra_tools or [])
        self._conn = sqlite3.connect(self.home / "conversations.sqlite", check_same_thread=False)
        self.checkpointer = SqliteSaver(self._conn)
        self.graph = build_graph(policy, self.tools, self.checkpointer)

    @classmethod
    def from_settings(
        cls,
        settings: Any = None,
        policy_name: str | None = None,
        extra_tools: list[BaseTool] | None = None,
        **policy_options: Any,
    ) -> Assistant:
        if settings is None:
            from assistant.config import get_settings  # noqa: PLC0415 - settings object only

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
            get_policy(name, **opts), settings.home, extra_tools=extra_tools, tool_timeout_s=settings.tool_timeout_s
        )

    def warmup(self) -> None:
        """Load every model once (ASR, VAD, embeddings, TTS) so the first turn is not slow."""
        import numpy as np

        t = np.zeros(8000, np.float32)
        self.respond(text="what time is it", thread_id="__warmup__")
        from model.embedded.vad import trim

        trim(t, 16000)
        if self.policy.name == "embedded":
            self.policy.asr.transcribe(t + 1e-4, 16000)
        self.graph.checkpointer.delete_thread("__warmup__")

    def close(self) -> None:
        self._conn.close()

    # -- input ----------------------------------------------------------------------
    def _store_audio(self, samples: np.ndarray, sample_rate: int) -> tuple[str, float]:
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim > 1:
            samples = samples.mean(axis=1)
        if sample_rate != 16000:
            import librosa

            samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=16000).astype(np.float32)
        digest = hashlib.sha256(samples.tobytes()).hexdigest()[:20]
        path = self.audio_dir / f"in-{digest}.wav"
        if not path.exists():
            sf.write(path, samples, 16000, subtype="FLOAT")
        return str(path), len(samples) / 16000

    def set_voice(self, thread_id: str, voice_id: str) -> dict[str, Any]:
        """Make a library voice the thread's active voice (the CLI's --voice)."""
        from voices import VoiceLibrary

        lib = VoiceLibrary(self.home / "voices")
        v = lib.get(voice_id) or lib.find_by_name(voice_id)
        if v is None:
            raise KeyError(voice_id)
        d = v.model_dump(mode="json")
        spec = voice_spec_from_attrs(d)
        self.graph.update_state({"configurable": {"thread_id": thread_id}}, {"voice": spec.model_dump()})
        return spec.model_dump()

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
    ) -> Iterator[Any]:
        t_start = time.perf_counter()
        if voice_id:
            self.set_voice(thread_id, voice_id)
        if audio is not None:
            path, dur = self._store_audio(audio, sample_rate)
            msg = user_message(path, 16000, dur)
        else:
            msg = user_message(text=text or "")
        config = {"configurable": {"thread_id": thread_id}}
        ctx = TurnContext(cancel=cancel, out_path=str(out_path) if out_path else None, audio_dir=str(self.audio_dir))
        first_audio: float | None = None
        state: dict[str, Any] = {}
        inputs = {"messages": [msg], "turn": {}, "hops": 0}
        for mode, payload in self.graph.stream(inputs, config, context=ctx, stream_mode=["custom", "values"]):
            if mode == "custom":
                if isinstance(payload, AudioChunk) and first_audio is None:
                    first_audio = (time.perf_counter() - t_start) * 1000
                yield payload
            else:
                state = payload
        turn = dict(state.get("turn") or {})
        timings = dict(turn.get("timings_ms", {}))
        if first_audio is not None:
            timings["first_audio"] = round(first_audio, 1)
        timings["total"] = round((time.perf_counter() - t_start) * 1000, 1)
        info = dict(turn.get("info", {}))
        if cancel and cancel.cancelled:
            info["cancelled"] = True
        if "speech_found" in turn:
            info["speech_found"] = turn["speech_found"]
        voice = state.get("voice") or {}
        result = TurnResult(
            transcript=turn.get("transcript", text or ""),
            reply_text=turn.get("reply_text", ""),
            tool_calls=[ToolCallRecord(**c) for c in turn.get("tool_calls", [])],
            voice=voice.get("voice_id") if voice else "default",
            reply_audio=turn.get("reply_audio"),
            policy=self.policy.name,
            thread=thread_id,
            timings_ms=timings,
            info=info,
        )
        yield TurnDone(result=result)

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
        from voices import VoiceLibrary

        return [v.model_dump(mode="json") for v in VoiceLibrary(self.home / "voices").list()]

    def add_corpus(self, paths: list[str | Path], name: str = "default") -> dict[str, Any]:
        from retrieval import CorpusStore

        report = CorpusStore(self.home / "corpora").add([Path(p) for p in paths], name=name)
        return report.model_dump(mode="json")
