"""Speak while the policy generates: one policy generation through the speaker.

`speak_generation` pulls the policy's events one at a time, passes each on at once, and feeds
every text delta and audio-token group to the open speech segment, so the first
`AudioChunk` goes out as soon as the first sentence (text policies) or the first 25 codes
plus look-ahead (token2wav) are ready, while the rest is still being generated. A tool call
ends the spoken segment. Barge-in (the cancel token) stops generation and synthesis
together, and the result says what was actually spoken, so the checkpoint records that.

Times are kept apart: `policy` is time spent inside the policy's generator (its whole
generation, without the synthesis interleaved with it), `asr` the part of it before a
`Transcript`, `tts` time inside the speaker, `tts_first_chunk` the synthesis time until
its first chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from model.events import (
    AudioChunk,
    AudioTokens,
    Done,
    TextDelta,
    Timing,
    ToolCall,
    Transcript,
)
from model.policy import CancelToken, Policy, SpeechSegment, ToolSpec, VoiceSpec

Emit = Callable[[Any], None]


@dataclass
class Generation:
    """What one policy generation produced, and how much of it was heard."""

    text: str = ""
    tokens: list[int] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    transcript: str | None = None
    done: Done = field(default_factory=Done)
    cancelled: bool = False
    chunks: int = 0
    # what was heard when cancelled: exact sentences from text speakers, else everything
    # fed to the speaker up to the last chunk that went out
    _heard_text: list[str] = field(default_factory=list)
    _heard_upto: tuple[int, int] = (0, 0)

    def heard(self) -> tuple[str, list[int]]:
        if not self.cancelled:
            return self.text, self.tokens
        if self._heard_text:
            return " ".join(self._heard_text), []
        n_text, n_tok = self._heard_upto
        return self.text[:n_text], self.tokens[:n_tok]


class _Clock:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - since) * 1000
        return now

    def flush(self, emit: Emit) -> None:
        """Emit the time kept so far per stage and start again (the record adds them up)."""
        for stage, ms in self.ms.items():
            if ms > 0:
                emit(Timing(stage=stage, ms=round(ms, 1)))
        self.ms.clear()


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()  # a generator stops now (and releases whatever it holds)


def speak_text(segment: SpeechSegment, text: str, emit: Emit) -> None:
    """Say a fixed text through a fresh segment (the step-limit apology)."""
    for chunk in (*segment.text(text), *segment.end()):
        emit(chunk)


class _Voicing:
    """One generation on its way to the speaker: the open segment, the clock, the result."""

    def __init__(self, policy: Policy, voice: VoiceSpec | None, cancel: CancelToken | None,
                 emit: Emit, on_first_audio: Callable[[], None] | None) -> None:
        self.speaker, self.voice, self.cancel, self.emit = policy.speaker(), voice, cancel, emit
        self.on_first_audio = on_first_audio
        self.gen = Generation()
        self.clock = _Clock()
        self.segment: SpeechSegment | None = None
        self.info: dict[str, Any] = {}  # the segments' info (how it was spoken)
        self.first_chunk = False

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    def say(self, chunks: Iterator[AudioChunk]) -> None:
        gen, clock = self.gen, self.clock
        t = time.perf_counter()
        try:
            for chunk in chunks:
                t = clock.add("tts", t)
                if not self.first_chunk:
                    self.first_chunk = True
                    # what it took to get here, before the sound (the rest follows at the end)
                    self.emit(Timing(stage="tts_first_chunk", ms=round(clock.ms["tts"], 1)))
                    clock.flush(self.emit)
                    if self.on_first_audio is not None:
                        self.on_first_audio()
                self.emit(chunk)
                gen.chunks += 1
                if chunk.text is not None:
                    gen._heard_text.append(chunk.text)
                gen._heard_upto = (len(gen.text), len(gen.tokens))
                if self.cancelled:
                    return  # barge-in: no more synthesis
                t = time.perf_counter()
            clock.add("tts", t)
        finally:
            _close(chunks)

    def open_segment(self) -> SpeechSegment:
        if self.segment is None:
            t = time.perf_counter()
            self.segment = self.speaker.segment(self.voice)
            self.clock.add("tts", t)
        return self.segment

    def close_segment(self, speak: bool = True) -> None:
        if self.segment is not None:
            seg, self.segment = self.segment, None
            if speak:
                self.say(seg.end())
            self.info.update(seg.info)

    def drive(self, events: Iterator[Any]) -> None:
        """Pull the policy's events one at a time and feed the speaker between them."""
        gen, clock = self.gen, self.clock
        t = time.perf_counter()
        while not self.cancelled:
            ev = next(events, None)
            t = clock.add("policy", t)
            if ev is None:
                return
            if isinstance(ev, Done):
                gen.done = ev
            else:
                self.emit(ev)
            if isinstance(ev, Transcript):
                gen.transcript = ev.text
                clock.ms["asr"] = clock.ms.pop("policy", 0.0)  # hearing came first
            elif isinstance(ev, TextDelta):
                gen.text += ev.text
                self.say(self.open_segment().text(ev.text))
            elif isinstance(ev, AudioTokens):
                gen.tokens.extend(ev.tokens)
                self.say(self.open_segment().tokens(ev.tokens))
            elif isinstance(ev, ToolCall):
                gen.calls.append(ev)
                self.close_segment()  # a tool call ends the spoken segment
            t = time.perf_counter()


def speak_generation(
    policy: Policy,
    messages: list[Any],
    tools: list[ToolSpec],
    *,
    voice: VoiceSpec | None,
    cancel: CancelToken | None,
    emit: Emit,
    on_first_audio: Callable[[], None] | None = None,
) -> Generation:
    """Run one generation of `policy`, speaking it as it comes; emits every event."""
    v = _Voicing(policy, voice, cancel, emit, on_first_audio)
    events = iter(policy.stream(messages, tools, voice=voice, cancel=cancel))
    try:
        v.drive(events)
    finally:
        _close(events)
    gen = v.gen
    gen.cancelled = v.cancelled
    v.close_segment(speak=not gen.cancelled)
    gen.cancelled = v.cancelled  # barged in while the last words were synthesized
    if gen.cancelled:
        gen.calls = []
        gen.done = Done(reason="cancelled", info=gen.done.info)
    v.clock.flush(emit)
    gen.done = gen.done.model_copy(update={"info": {**gen.done.info, **v.info}})
    emit(gen.done)
    return gen
