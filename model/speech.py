"""Speech segments shared by the speakers: text spoken sentence by sentence as it streams in.

`SentenceSegment` buffers text deltas and hands each complete sentence (long ones cut at a
comma or a space) to a synthesis function the moment it is complete, so the first sentence
is heard while the policy is still writing the second. `speak_once` runs a whole reply
through a speaker's segment (for callers that have the reply already).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from model.events import AudioChunk
from model.policy import Speaker, VoiceSpec

MAX_PIECE_CHARS = 160
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def say_number(value: Any) -> str:
    """A number as it is read aloud: 391.0 -> "391", 0.333333333 -> "0.333333"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def split_long(sentence: str, limit: int = MAX_PIECE_CHARS) -> list[str]:
    """Cut a long sentence at commas or spaces so no piece blows up synthesis memory."""
    out: list[str] = []
    sentence = sentence.strip()
    while len(sentence) > limit:
        cut = sentence.rfind(", ", 0, limit)
        if cut < 40:
            cut = sentence.rfind(" ", 0, limit)
        if cut < 1:
            cut = limit
        out.append(sentence[: cut + 1].strip())
        sentence = sentence[cut + 1 :].strip()
    if sentence:
        out.append(sentence)
    return out


def sentences(text: str) -> list[str]:
    """All sentences of a finished text, long ones cut."""
    return [p for s in _SENTENCE_END.split(text.strip()) for p in split_long(s)]


class SentenceSegment:
    """A `SpeechSegment` for text speakers: `say(sentence)` yields float32 arrays."""

    def __init__(self, say: Callable[[str], Iterator[np.ndarray]], sample_rate: int,
                 info: dict[str, Any] | None = None) -> None:
        self._say = say
        self.sample_rate = sample_rate
        self.info: dict[str, Any] = dict(info or {})
        self._buf = ""

    def _speak(self, sentence: str) -> Iterator[AudioChunk]:
        for piece in split_long(sentence):
            for samples in self._say(piece):
                if samples.size:
                    yield AudioChunk(samples=samples, sample_rate=self.sample_rate, text=piece)

    def text(self, delta: str) -> Iterator[AudioChunk]:
        self._buf += delta
        *done, rest = _SENTENCE_END.split(self._buf)
        if len(rest) > MAX_PIECE_CHARS:  # a run-on sentence: speak what is there
            *more, last = split_long(rest)
            done += more
            rest = last + rest[len(rest.rstrip()):]  # keep the space before the next word
        self._buf = rest
        for sentence in done:
            if sentence.strip():
                yield from self._speak(sentence)

    def tokens(self, tokens: list[int]) -> Iterator[AudioChunk]:
        return iter(())  # a text speaker does not read speech codes

    def end(self) -> Iterator[AudioChunk]:
        rest, self._buf = self._buf, ""
        if rest.strip():
            yield from self._speak(rest)


def speak_once(
    speaker: Speaker, text: str, audio_tokens: list[int] | None = None,
    voice: VoiceSpec | None = None,
) -> Iterator[AudioChunk]:
    """A finished reply through one segment of `speaker`."""
    seg = speaker.segment(voice)
    if text:
        yield from seg.text(text)
    if audio_tokens:
        yield from seg.tokens(list(audio_tokens))
    yield from seg.end()
