"""The record of a turn, folded from its event stream.

`TurnRecorder.add(event)` sees every event of a turn in order; `result()` gives the
`TurnResult` (the `--json` document): transcript, reply text, tool calls with their results,
the voice, per-stage timings, the policy's and speaker's `Done.info`, and the reply audio,
written once as a WAV file (0600, renamed into place) when an output path is given. Nothing of this is kept in the
checkpoint: it is what happened, as the events said it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.recordings import write_wav
from core.audio import resample
from model.events import (
    AudioChunk,
    Done,
    TextDelta,
    Timing,
    ToolCall,
    ToolCallRecord,
    ToolResult,
    Transcript,
    TurnResult,
    VoiceChanged,
)

FIRST_ONLY = {"tts_first_chunk"}  # a stage timed once per turn (the first synthesis)


class TurnRecorder:
    def __init__(self, *, policy: str, thread: str, voice: str | None, transcript: str = "",
                 started: float | None = None) -> None:
        self.t0 = started if started is not None else time.perf_counter()
        self.policy, self.thread, self.voice = policy, thread, voice
        self.transcript = transcript
        self.reply: list[str] = [""]  # the text of each generation
        self.calls: dict[str, ToolCall] = {}
        self.records: list[ToolCallRecord] = []
        self.timings: dict[str, float] = {}
        self.info: dict[str, Any] = {}
        self.audio: list[np.ndarray] = []
        self.rate: int | None = None
        self.cancelled = False

    def add(self, ev: Any) -> None:
        if isinstance(ev, Transcript):
            self.transcript = ev.text
        elif isinstance(ev, TextDelta):
            self.reply[-1] += ev.text
        elif isinstance(ev, ToolCall):
            self.calls[ev.id] = ev
        elif isinstance(ev, ToolResult):
            call = self.calls.get(ev.id)
            self.records.append(ToolCallRecord(
                name=ev.name, arguments=call.arguments if call else {}, result=ev.content,
                is_error=ev.is_error))
        elif isinstance(ev, VoiceChanged):
            self.voice = ev.voice_id
        elif isinstance(ev, Timing):
            if ev.stage in FIRST_ONLY and ev.stage in self.timings:
                return
            self.timings[ev.stage] = round(self.timings.get(ev.stage, 0.0) + ev.ms, 1)
        elif isinstance(ev, AudioChunk):
            self._audio(ev)
        elif isinstance(ev, Done):
            self.reply.append("")
            self.info.update(ev.info)
            self.info["done"] = ev.reason
            if ev.confidence is not None:
                self.info["confidence"] = round(ev.confidence, 4)
            if ev.reason == "cancelled":
                self.cancelled = True

    def _audio(self, ev: AudioChunk) -> None:
        if not self.audio and "first_audio" not in self.timings:
            self.timings["first_audio"] = round((time.perf_counter() - self.t0) * 1000, 1)
        samples = np.asarray(ev.samples, np.float32)
        if self.rate is None:
            self.rate = ev.sample_rate
        elif ev.sample_rate != self.rate:  # a fallback speaker at another rate
            samples = resample(samples, ev.sample_rate, self.rate)
        self.audio.append(samples)

    @property
    def reply_text(self) -> str:
        return " ".join(" ".join(r.split()) for r in self.reply if r.strip())

    def result(self, out_path: str | Path | None = None) -> TurnResult:
        audio = np.concatenate(self.audio) if self.audio else np.zeros(0, np.float32)
        rate = self.rate or 16000
        reply_audio = None
        if out_path is not None:
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            write_wav(out_path, audio, rate, subtype="PCM_16")
            reply_audio = str(out_path)
        info = {**self.info, "reply_sample_rate": rate,
                "reply_duration_s": round(len(audio) / rate, 3), "chunks": len(self.audio)}
        if self.cancelled:
            info["cancelled"] = True
        timings = dict(self.timings)
        timings["total"] = round((time.perf_counter() - self.t0) * 1000, 1)
        return TurnResult(
            transcript=self.transcript, reply_text=self.reply_text, tool_calls=self.records,
            voice=self.voice or "default", reply_audio=reply_audio, policy=self.policy,
            thread=self.thread, timings_ms=timings, info=info,
        )
