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


def speak_text(segment: SpeechSegment, text: str, emit: Emit) -> int:
    """Say a fixed text through a fresh segment (the step-limit apology)."""
    n = 0
    for chunk in (*segment.text(text), *segment.end()):
        emit(chunk)
        n += 1
    return n


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
    gen = Generation()
    clock = _Clock()
    speaker = policy.speaker()
    segment: SpeechSegment | None = None
    info: dict[str, Any] = {}
    first_chunk_ms: float | None = None

    def say(chunks: Iterator[AudioChunk]) -> None:
        nonlocal first_chunk_ms
        t = time.perf_counter()
        try:
            for chunk in chunks:
                t = clock.add("tts", t)
                if first_chunk_ms is None:
                    first_chunk_ms = clock.ms["tts"]
                    # what it took to get here, before the sound (the rest follows at the end)
                    emit(Timing(stage="tts_first_chunk", ms=round(first_chunk_ms, 1)))
                    clock.flush(emit)
                    if on_first_audio is not None:
                        on_first_audio()
                emit(chunk)
                gen.chunks += 1
                if chunk.text is not None:
                    gen._heard_text.append(chunk.text)
                gen._heard_upto = (len(gen.text), len(gen.tokens))
                if cancel is not None and cancel.cancelled:
                    return  # barge-in: no more synthesis
                t = time.perf_counter()
            clock.add("tts", t)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def open_segment() -> SpeechSegment:
        nonlocal segment
        if segment is None:
            t = time.perf_counter()
            segment = speaker.segment(voice)
            clock.add("tts", t)
        return segment

    def close_segment() -> None:
        nonlocal segment
        if segment is not None:
            seg, segment = segment, None
            say(seg.end())
            info.update(seg.info)

    events = iter(policy.stream(messages, tools, voice=voice, cancel=cancel))
    try:
        _drive(events, gen, clock, cancel, emit, say, open_segment, close_segment)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # stop generating now (and release whatever the policy holds)
    if not gen.cancelled:
        close_segment()
        gen.cancelled = bool(cancel is not None and cancel.cancelled)
    if gen.cancelled:
        if segment is not None:
            info.update(segment.info)
        gen.calls = []
        gen.done = Done(reason="cancelled", info=gen.done.info)
    clock.flush(emit)
    gen.done = gen.done.model_copy(update={"info": {**gen.done.info, **info}})
    emit(gen.done)
    return gen


def _drive(events, gen: Generation, clock: _Clock, cancel, emit, say, open_segment,
           close_segment) -> None:
    """Pull the policy's events one at a time and feed the speaker between them."""
    t = time.perf_counter()
    while True:
        if cancel is not None and cancel.cancelled:
            gen.cancelled = True
            return
        ev = next(events, None)
        t = clock.add("policy", t)
        if ev is None:
            return
        if isinstance(ev, Done):
            gen.done = ev
        else:
            emit(ev)
        if isinstance(ev, Transcript):
            gen.transcript = ev.text
            clock.ms["asr"] = clock.ms.pop("policy", 0.0)  # hearing came first
        elif isinstance(ev, TextDelta):
            gen.text += ev.text
            say(open_segment().text(ev.text))
        elif isinstance(ev, AudioTokens):
            gen.tokens.extend(ev.tokens)
            say(open_segment().tokens(ev.tokens))
        elif isinstance(ev, ToolCall):
            gen.calls.append(ev)
            close_segment()  # a tool call ends the spoken segment
        t = time.perf_counter()
