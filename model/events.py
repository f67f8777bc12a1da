"""The one event vocabulary of stepvox: policy -> speaker -> graph -> live session -> terminal,
WebSocket JSON and `--json` all speak these types.

Every event is a small pydantic model with a literal `type`; `Event` is their tagged union and
`event_json` / `parse_event` are the JSON form the web protocol uses (audio travels as
base64 PCM16 in JSON, as binary frames on the WebSocket). Per-turn information travels in
events (`Done.info`, `TurnDone.result`), never in attributes of a shared object, so two
sessions on one policy cannot mix their turns.
"""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_serializer,
    field_validator,
)

# -- what a policy emits -------------------------------------------------------------------


class Transcript(BaseModel):
    """What the user said (from the recognizer, or a speech-native policy)."""

    type: Literal["transcript"] = "transcript"
    text: str


class TextDelta(BaseModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class AudioTokens(BaseModel):
    """Step-Audio 2 speech codes (0..6560) as they are generated."""

    type: Literal["audio_tokens"] = "audio_tokens"
    tokens: list[int]


class ToolCall(BaseModel):
    """A call the policy asks for; the same type is the tool-call part of a stored message."""

    type: Literal["tool_call"] = "tool_call"
    id: str = Field(default_factory=lambda: f"call_{uuid.uuid4().hex[:12]}")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Done(BaseModel):
    """The end of one policy generation (or of a turn's speech, with the speaker's info)."""

    type: Literal["done"] = "done"
    reason: Literal["stop", "tool_calls", "length", "cancelled", "error"] = "stop"
    confidence: float | None = None
    info: dict[str, Any] = Field(default_factory=dict)


# -- what the speaker and the graph add ---------------------------------------------------


class AudioChunk(BaseModel):
    """A piece of reply waveform, float32 mono in [-1, 1]; `text` is what it says when the
    speaker knows (a synthesized sentence)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    type: Literal["audio_chunk"] = "audio_chunk"
    samples: np.ndarray
    sample_rate: int
    text: str | None = None

    @field_serializer("samples", when_used="json")
    def _pcm16(self, samples: np.ndarray) -> str:
        x = np.clip(np.asarray(samples, np.float32), -1, 1) * 32768
        pcm = np.clip(np.round(x), -32768, 32767).astype("<i2")
        return base64.b64encode(pcm.tobytes()).decode("ascii")

    @field_validator("samples", mode="before")
    @classmethod
    def _from_pcm16(cls, v: Any) -> np.ndarray:
        if isinstance(v, str):
            return np.frombuffer(base64.b64decode(v), "<i2").astype(np.float32) / 32768.0
        return np.asarray(v, dtype=np.float32)


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


class Timing(BaseModel):
    """Milliseconds spent in one stage (several events of one stage add up)."""

    type: Literal["timing"] = "timing"
    stage: str
    ms: float


class Waiting(BaseModel):
    """The turn paused for a person (a LangGraph interrupt): `approval` of the tool calls in
    `calls` (approve or deny each), or a `handoff` to a human whose answer the conversation
    waits for (`reason`). The thread stays paused, across restarts, until it is resumed."""

    type: Literal["waiting"] = "waiting"
    kind: Literal["approval", "handoff"]
    calls: list[ToolCall] = Field(default_factory=list)
    reason: str | None = None


class ToolCallRecord(BaseModel):
    name: str
    arguments: dict[str, Any]
    result: str
    is_error: bool = False


class TurnResult(BaseModel):
    """The record of one turn, folded from its events: the JSON of `stepvox respond --json`."""

    transcript: str
    reply_text: str
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    voice: str | None = None
    reply_audio: str | None = None
    policy: str
    thread: str
    timings_ms: dict[str, float] = Field(default_factory=dict)
    info: dict[str, Any] = Field(default_factory=dict)
    waiting: Waiting | None = None  # the turn paused for a person (approval or handoff)


class TurnDone(BaseModel):
    type: Literal["turn_done"] = "turn_done"
    result: TurnResult


# -- what a live session adds -------------------------------------------------------------


class SpeechStarted(BaseModel):
    type: Literal["speech_start"] = "speech_start"
    sample: int


class SpeechEnded(BaseModel):
    type: Literal["speech_end"] = "speech_end"
    sample: int | None = None
    seconds: float


class SpeechAborted(BaseModel):
    """Speech that does not become a turn (too short, or heard while busy without barge-in)."""

    type: Literal["speech_abort"] = "speech_abort"
    sample: int | None = None
    reason: str = "too short"


class PushToTalk(BaseModel):
    type: Literal["ptt"] = "ptt"
    pressed: bool
    seconds: float | None = None


class TurnStarted(BaseModel):
    type: Literal["turn_start"] = "turn_start"
    turn: int
    seconds: float


class BargeIn(BaseModel):
    type: Literal["barge_in"] = "barge_in"
    onset_sample: int | None = None
    detected_sample: int | None = None
    detect_ms: float | None = None
    was_playing: bool = False
    turn_running: bool = False


class TurnCancelled(BaseModel):
    type: Literal["turn_cancelled"] = "turn_cancelled"
    turn: int


class VoiceSelected(BaseModel):
    type: Literal["voice_selected"] = "voice_selected"
    voice_id: str | None = None


class Error(BaseModel):
    type: Literal["error"] = "error"
    message: str
    turn: int | None = None


# -- connection messages of the web protocol -----------------------------------------------


class Status(BaseModel):
    type: Literal["status"] = "status"
    state: str  # "loading"


class Ready(BaseModel):
    type: Literal["ready"] = "ready"
    thread_id: str
    output_sample_rate: int
    policy: str
    mode: str = "vad"
    barge_in: bool = True


class StopPlayback(BaseModel):
    """Barge-in: the client drops the audio it has queued."""

    type: Literal["stop_playback"] = "stop_playback"


class Pong(BaseModel):
    type: Literal["pong"] = "pong"


PolicyEvent = Annotated[
    Transcript | TextDelta | AudioTokens | ToolCall | Done,
    Field(discriminator="type"),
]
"""What `Policy.stream` yields."""

Event = Annotated[
    Transcript
    | TextDelta
    | AudioTokens
    | ToolCall
    | Done
    | AudioChunk
    | ToolResult
    | VoiceChanged
    | Timing
    | Waiting
    | TurnDone
    | SpeechStarted
    | SpeechEnded
    | SpeechAborted
    | PushToTalk
    | TurnStarted
    | BargeIn
    | TurnCancelled
    | VoiceSelected
    | Error
    | Status
    | Ready
    | StopPlayback
    | Pong,
    Field(discriminator="type"),
]
"""Every event of every layer."""

EVENT_ADAPTER: TypeAdapter = TypeAdapter(Event)


def event_json(event: BaseModel) -> dict[str, Any]:
    """The JSON form of an event (what the WebSocket and `--json` streams carry)."""
    return event.model_dump(mode="json")


def parse_event(data: dict[str, Any] | str | bytes) -> Any:
    """An event from its JSON form; pydantic's ValidationError on anything else."""
    if isinstance(data, str | bytes):
        return EVENT_ADAPTER.validate_json(data)
    return EVENT_ADAPTER.validate_python(data)
