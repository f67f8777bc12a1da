"""Turn events: the policy's event union plus what the graph adds around it.

`TurnEvent` is the one streaming event type the assistant layer (CLI, live loop,
web server) consumes: everything a policy emits, plus tool results, voice changes,
stage timings and the final `TurnDone` with the whole turn's result.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from model.events import AudioChunk, AudioTokens, Done, TextDelta, ToolCall, Transcript


class ToolResult(BaseModel):
    type: Literal["tool_result"] = "tool_result"
    id: str
    name: str
    content: str
    is_error: bool = False


class VoiceChanged(BaseModel):
    type: Literal["voice_changed"] = "voice_changed"
    voice_id: str
    name: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class StageTiming(BaseModel):
    type: Literal["timing"] = "timing"
    stage: str
    ms: float


class ToolCallRecord(BaseModel):
    name: str
    arguments: dict[str, Any]
    result: str
    is_error: bool = False


class TurnResult(BaseModel):
    """The JSON document of `stepvox respond --json` (plus `thread`)."""

    transcript: str
    reply_text: str
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    voice: str | None = None
    reply_audio: str | None = None
    policy: str
    thread: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)


class TurnDone(BaseModel):
    type: Literal["turn_done"] = "turn_done"
    result: TurnResult


TurnEvent = Annotated[
    Transcript
    | TextDelta
    | AudioTokens
    | AudioChunk
    | ToolCall
    | Done
    | ToolResult
    | VoiceChanged
    | StageTiming
    | TurnDone,
    Field(discriminator="type"),
]
