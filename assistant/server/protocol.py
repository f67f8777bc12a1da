"""The WebSocket protocol of `stepvox serve` (one JSON object per text frame).

Client -> server
  {"type": "start", "sample_rate": 16000, "output_sample_rate": 16000,
   "thread_id"?: str, "voice_id"?: str, "mode"?: "vad" | "ptt", "barge_in"?: bool}   first
  binary frames: microphone audio, mono little-endian int16 PCM at `sample_rate`
  {"type": "voice", "voice_id": str}        use this voice from the next turn on
  {"type": "ptt", "pressed": bool}          push-to-talk (mode "ptt")
  {"type": "mode", "mode": "vad" | "ptt"}
  {"type": "interrupt"}                     stop the reply now (button)
  {"type": "playback", "state": "idle"}     the page's player has drained
  {"type": "ping"}

Server -> client
  {"type": "status", "state": "loading"}, {"type": "ready", "thread_id", "output_sample_rate", "policy"}
  binary frames: reply audio, mono int16 PCM at `output_sample_rate`, sent as synthesized
  {"type": "stop_playback"}                 barge-in: drop what is queued
  {"type": "session", "kind": "speech_start" | "speech_end" | "barge_in" | "turn_start" | ..., "info": {...}}
  {"type": "transcript", "text"}, {"type": "text_delta", "text"},
  {"type": "tool_call", "id", "name", "arguments"}, {"type": "tool_result", "id", "name", "content", "is_error"},
  {"type": "voice_changed", "voice_id", "name", "attributes"}, {"type": "timing", "stage", "ms"},
  {"type": "turn_done", "result": {...TurnResult}}, {"type": "error", "message"}
"""

from __future__ import annotations

from typing import Any

SKIP = {"audio_chunk", "audio_tokens"}  # audio goes out as binary frames; tokens stay inside


def event_to_json(ev: Any) -> dict[str, Any] | None:
    kind = getattr(ev, "type", None)
    if kind is None or kind in SKIP:
        return None
    if hasattr(ev, "model_dump"):
        return ev.model_dump(mode="json")
    return {"type": str(kind)}
