"""The policy contract: messages + tools in, a stream of events out; a speaker makes the sound.

This module holds only the contract types (it imports nothing else from the project but
the message and event types). Implementations are found by name in `model.registry`.

A policy's `stream(messages, tools, voice=, cancel=)` yields `model.events.PolicyEvent`s
(`Transcript`, `TextDelta`, `AudioTokens`, `ToolCall`, and one final `Done` whose `info`
carries everything that turn wants to report). A policy that cannot answer at all raises
`PolicyUnavailable` (one line) instead of ending with an empty reply. Its `speaker()`
turns those events into audio *as they arrive*: the graph opens one `SpeechSegment` per
spoken stretch (up to a tool call or the end of the generation) and feeds it every text
delta and audio-token group; the segment returns `AudioChunk`s as soon as a sentence (text
speakers) or a 25-token chunk plus look-ahead (token2wav) is ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from model.events import AudioChunk, PolicyEvent
from model.messages import Message


class PolicyUnavailable(RuntimeError):
    """The policy cannot answer: its server is down, failing or speaking nonsense. The turn
    fails with it (nothing of the turn is kept). str(e) is one line naming the policy's
    endpoint and the problem, e.g. `remote policy http://host:8000/v1/chat/completions:
    connection refused`. The CLI exits with `exit_code` after printing that line."""

    exit_code = 1


class PreviousCall(BaseModel):
    """The last tool call of the conversation (for follow-ups such as "and in London?")."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: str = ""


class ToolSpec(BaseModel):
    """What a policy knows about a tool: its JSON schema, plus what a router without a
    language model needs (example phrasings, cue words, an argument parser, and how a
    result is said aloud). The callables never leave the process (excluded from dumps)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    description: str
    parameters: dict[str, Any] = Field(default_factory=dict)  # JSON schema
    examples: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    # (request text, previous call or None) -> arguments, or None when they are not there
    parse: Callable[[str, PreviousCall | None], dict[str, Any] | None] | None = Field(
        default=None, exclude=True
    )
    # (parsed JSON result or raw text, arguments) -> one or two spoken sentences
    say: Callable[[Any, dict[str, Any]], str] | None = Field(default=None, exclude=True)
    # (error message, arguments) -> one spoken sentence
    say_error: Callable[[str, dict[str, Any]], str] | None = Field(default=None, exclude=True)
    # (request text) -> True when it names this tool outright, whatever the topic
    explicit: Callable[[str], bool] | None = Field(default=None, exclude=True)
    extractive: bool = False  # results hold passages: answer by quoting one, naming its source
    fallback: str | None = None  # tool to try when this one's extractive answer is unsure
    lookup: int | None = None  # order among tools an unmatched information question goes to
    clarify: str | None = None  # what to ask when the tool fits but its arguments are missing
    approval: bool = False  # a person approves each call before it runs


class VoiceSpec(BaseModel):
    """The active voice: a library id and what synthesis needs to use it."""

    voice_id: str = "default"
    name: str | None = None
    prompt_path: str | None = None  # prompt recording (token2wav)
    pitch_hz: float | None = None  # median F0 of the voice, for Piper's mapping
    speaking_rate: float | None = None  # syllables per second
    attributes: dict[str, Any] = Field(default_factory=dict)


class CancelToken:
    """Set from another thread (barge-in) to stop a running generation and its speech."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@runtime_checkable
class SpeechSegment(Protocol):
    """One spoken stretch of a reply, fed while the policy generates."""

    info: dict[str, Any]  # e.g. {"speech": "token2wav"}: how this segment was spoken

    def text(self, delta: str) -> Iterator[AudioChunk]: ...

    def tokens(self, tokens: list[int]) -> Iterator[AudioChunk]: ...

    def end(self) -> Iterator[AudioChunk]: ...


@runtime_checkable
class Speaker(Protocol):
    sample_rate: int

    def segment(self, voice: VoiceSpec | None = None) -> SpeechSegment: ...


@runtime_checkable
class Policy(Protocol):
    name: str

    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        *,
        voice: VoiceSpec | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[PolicyEvent]: ...

    def speaker(self) -> Speaker: ...
