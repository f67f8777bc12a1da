"""The policy protocol: messages + tools in, a stream of events out.

Three implementations are chosen by name (`get_policy`): `embedded` (offline default),
`step-audio-2` (a local checkpoint directory) and `remote` (an OpenAI-compatible
Step-Audio 2 server). A policy also owns how its replies become sound (`speaker`):
the embedded policy speaks text with Piper, Step-Audio 2 turns audio tokens into
speech with token2wav.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from model.events import AudioChunk, PolicyEvent
from model.messages import Message


class ToolSpec(BaseModel):
    """What a policy knows about a tool: its JSON schema plus example phrasings."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(default_factory=dict)  # JSON schema
    examples: list[str] = Field(default_factory=list)


class VoiceSpec(BaseModel):
    """The active voice: a library id and what synthesis needs to use it."""

    voice_id: str = "default"
    name: str | None = None
    prompt_path: str | None = None  # prompt recording (token2wav)
    pitch_hz: float | None = None  # median F0 of the voice, for Piper's mapping
    speaking_rate: float | None = None  # syllables per second
    attributes: dict[str, Any] = Field(default_factory=dict)


class CancelToken:
    """Set from another thread (barge-in) to stop a running generation."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@runtime_checkable
class Speaker(Protocol):
    sample_rate: int

    def speak(
        self, text: str, audio_tokens: list[int], voice: VoiceSpec | None = None
    ) -> Iterator[AudioChunk]: ...


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


def get_policy(name: str = "embedded", **options: Any) -> Policy:
    """Build a policy by name. Options are passed to its constructor."""
    if name == "embedded":
        from model.embedded.policy import EmbeddedPolicy

        return EmbeddedPolicy(**options)
    if name == "step-audio-2":
        from model.stepaudio2.policy import StepAudio2Policy

        return StepAudio2Policy(**options)
    if name == "remote":
        from model.remote import RemotePolicy

        return RemotePolicy(**options)
    raise ValueError(f"unknown policy {name!r} (choose embedded, step-audio-2 or remote)")


POLICY_NAMES = ("embedded", "step-audio-2", "remote")
