"""The WebSocket protocol of `stepvox serve`: one JSON object per text frame, audio in binary frames.

Server -> client: every JSON message IS an event of `model.events` in its `event_json` form
(`parse_event` reads it back), tagged by `type`:

  connection  {"type": "status", "state": "loading"}
              {"type": "ready", "thread_id", "output_sample_rate", "policy", "mode", "barge_in"}
              {"type": "stop_playback"}                  barge-in: drop the audio queued
              {"type": "pong"}
              {"type": "voice_selected", "voice_id"}     answer to a `voice` message
              {"type": "error", "message", "turn"}       a bad message, a failed load or turn
  session     {"type": "speech_start", "sample"}, {"type": "speech_end", "sample", "seconds"},
              {"type": "speech_abort", "sample", "reason"}, {"type": "ptt", "pressed", "seconds"},
              {"type": "turn_start", "turn", "seconds"},
              {"type": "barge_in", "onset_sample", "detected_sample", "detect_ms",
               "was_playing", "turn_running"},
              {"type": "turn_cancelled", "turn"}
  turn        {"type": "transcript", "text"}, {"type": "text_delta", "text"},
              {"type": "tool_call", "id", "name", "arguments"},
              {"type": "tool_result", "id", "name", "content", "is_error"},
              {"type": "voice_changed", "voice_id", "name", "attributes"},
              {"type": "timing", "stage", "ms"}, {"type": "done", "reason", ...},
              {"type": "turn_done", "result": {...TurnResult, the `stepvox respond --json` document}}
  binary frames: reply audio, mono little-endian int16 PCM at `output_sample_rate`, sent as
              synthesized. `audio_chunk` and `audio_tokens` events never go out as JSON.

Client -> server (`ClientMessage`, validated; a bad one is answered with an `error` event that
names the problem, and the connection stays open — except for a bad `start`, which closes it):

  {"type": "start", "sample_rate": 16000, "output_sample_rate"?: int, "thread_id"?: str,
   "voice_id"?: str, "mode"?: "vad" | "ptt", "barge_in"?: bool}          first, exactly once
  binary frames: microphone audio, mono little-endian int16 PCM at `sample_rate`
  {"type": "voice", "voice_id": str | null}    use this voice from the next turn on
  {"type": "ptt", "pressed": bool}             push-to-talk (mode "ptt")
  {"type": "mode", "mode": "vad" | "ptt"}
  {"type": "interrupt"}                        stop the reply now (button)
  {"type": "playback", "state": "idle"}        the page's player has drained
  {"type": "ping"}                             answered with `pong`
  {"type": "approve", "reason"?: str}          the pending tool calls may run   } only while the
  {"type": "deny", "reason"?: str}             the pending tool calls must not  } conversation
  {"type": "reply", "text": str}               an operator's answer to a handoff} waits (`waiting`)

A person in the loop: a turn that pauses sends `{"type": "waiting", "kind": "approval" |
"handoff", "calls": [...], "reason"}` (and `ready` is followed by it when the conversation is
already paused). `approve`/`deny` answer an approval, `reply` a handoff; the resumed turn's
events and audio follow as a turn's do. One that does not fit what the conversation waits for
(nothing waits, or it waits for the other kind) is answered with an `error` and changes nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from core.thread_ids import thread_id_problem
from model.events import Waiting, event_json

SKIP = {"audio_chunk", "audio_tokens"}  # audio goes out as binary frames; tokens stay inside

RATE = Field(ge=8000, le=192000)
# a voice id: 1-200 printable characters
Ident = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


def _thread_id(value: str) -> str:
    problem = thread_id_problem(value)
    if problem:
        raise ValueError(f"thread id: {problem}")
    return value


ThreadId = Annotated[str, AfterValidator(_thread_id)]  # the one rule (core/thread_ids.py)


# -- client -> server -------------------------------------------------------------------


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Start(_Msg):
    type: Literal["start"]
    sample_rate: Annotated[int, RATE] = 16000
    output_sample_rate: Annotated[int, RATE] | None = None  # default: sample_rate
    thread_id: ThreadId | None = None
    voice_id: Ident | None = None
    mode: Literal["vad", "ptt"] = "vad"
    barge_in: bool = True


class SelectVoice(_Msg):
    type: Literal["voice"]
    voice_id: Ident | None = None


class Ptt(_Msg):
    type: Literal["ptt"]
    pressed: bool


class Mode(_Msg):
    type: Literal["mode"]
    mode: Literal["vad", "ptt"]


class Interrupt(_Msg):
    type: Literal["interrupt"]


class Playback(_Msg):
    type: Literal["playback"]
    state: Literal["idle"]


class Ping(_Msg):
    type: Literal["ping"]


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty (only white space)")
    if any(ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127 for c in value):
        raise ValueError("has control characters")
    return value


# a person's reason for a decision, and an operator's answer: printable text (lines allowed)
Reason = Annotated[str, StringConstraints(max_length=200), AfterValidator(_text)]
Answer = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_text)]


class Approve(_Msg):
    """Let the tool calls the conversation waits on run."""

    type: Literal["approve"]
    reason: Reason | None = None

    def decision(self) -> dict[str, Any]:
        return {"approved": True, "reason": self.reason}


class Deny(_Msg):
    """Refuse the tool calls the conversation waits on (the reply says so)."""

    type: Literal["deny"]
    reason: Reason | None = None

    def decision(self) -> dict[str, Any]:
        return {"approved": False, "reason": self.reason}


class Reply(_Msg):
    """An operator's answer to a handoff; the assistant says it in the conversation's voice."""

    type: Literal["reply"]
    text: Answer

    def decision(self) -> dict[str, Any]:
        return {"reply": self.text}


Decision = Approve | Deny | Reply


def decision_problem(msg: Decision, waiting: Waiting | None) -> str | None:
    """Why `msg` does not answer what the conversation waits for (None: it does)."""
    want = "approval" if isinstance(msg, Approve | Deny) else "handoff"
    head = f"bad {msg.type!r} message"
    if waiting is None:
        return f"{head}: the conversation is not waiting for a person"
    if waiting.kind != want:
        other = ("an approval (send 'approve' or 'deny')" if waiting.kind == "approval"
                 else "an operator's answer (send 'reply')")
        return f"{head}: the conversation waits for {other}"
    return None


ClientMessage = Annotated[
    Start | SelectVoice | Ptt | Mode | Interrupt | Playback | Ping | Approve | Deny | Reply,
    Field(discriminator="type"),
]
CLIENT_ADAPTER: TypeAdapter = TypeAdapter(ClientMessage)


class BadMessage(ValueError):
    """A client message that is not valid JSON or not one of `ClientMessage`."""


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(x) for x in e.get("loc", ()))
        parts.append(f"{loc}: {e['msg']}" if loc else e["msg"])
    return "; ".join(parts)


def parse_client_message(text: str | bytes) -> Any:
    """A `ClientMessage` from one text frame; `BadMessage` naming the problem otherwise."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise BadMessage(f"bad message: not JSON ({e})") from None
    if not isinstance(data, dict):
        raise BadMessage(f"bad message: expected a JSON object, got {type(data).__name__}")
    try:
        return CLIENT_ADAPTER.validate_python(data)
    except ValidationError as e:
        raise BadMessage(f"bad {data.get('type')!r} message: {_describe(e)}") from None


# -- server -> client -------------------------------------------------------------------


def outgoing(ev: Any) -> dict[str, Any] | None:
    """The JSON message for an event, or None for what does not go out as JSON (audio)."""
    kind = getattr(ev, "type", None)
    if not isinstance(ev, BaseModel) or kind is None or kind in SKIP:
        return None
    return event_json(ev)
