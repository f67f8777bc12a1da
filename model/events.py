"""The one streaming event type every stage speaks (policy -> graph -> speaker -> CLI/web).

`PolicyEvent` is a tagged union; every event is a small pydantic model with a `type`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Transcript(BaseModel):
    """What the policy heard the user say (speech-native policies may emit it)."""

    type: Literal["transcript"] = "transcript"
    text: str


class TextDelta(BaseModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class AudioTokens(BaseModel):
    """Step-Audio 2 speech codes (0..6560) as they are generated."""

    type: Literal["audio_tokens"] = "audio_tokens"
    tokens: list[int]


class AudioChunk(BaseModel):
    """A piece of reply waveform, float32 mono in [-1, 1]."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    type: Literal["audio_chunk"] = "audio_chunk"
    samples: np.ndarray
    sample_rate: int


class ToolCall(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Done(BaseModel):
    type: Literal["done"] = "done"
    reason: Literal["stop", "tool_calls", "length", "cancelled", "error"] = "stop"
    confidence: float | None = None
    info: dict[str, Any] = Field(default_factory=dict)


PolicyEvent = Annotated[
    Transcript | TextDelta | AudioTokens | AudioChunk | ToolCall | Done,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter = TypeAdapter(PolicyEvent)
