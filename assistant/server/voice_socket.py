"""One WebSocket voice session of `stepvox serve` (the protocol is in `protocol.py`).

Lifetime and limits:
- at most `max_sessions` sockets at once; one more is accepted only to be told why (an `error`
  event) and closed with 1013 ("try again later");
- the `LiveSession` exists while its socket is open: `app.state.sessions` lists only live ones,
  and a closed session is cancelled, joined and its VAD model dropped at once;
- audio frames are int16 PCM of at most `max_frame_seconds`; text frames at most
  `MAX_TEXT_BYTES`; push-to-talk holds at most `max_input_seconds` of audio;
- `approve`/`deny`/`reply` are checked against what the conversation waits for before the
  resumed turn starts (`protocol.decision_problem`); `ready` is followed by the `waiting` event
  when the conversation is already paused;
- every bad frame is answered with one `error` event naming it. A bad first frame (binary, not
  JSON, not a `start`, an unknown voice) closes the socket with 1008 after its `error`; later bad
  frames leave the session running. Unexpected failures end the socket with an `error` event,
  close code 1011 and one log line — never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect

from assistant.live.endpointer import SAMPLE_RATE, EndpointConfig, load_vad
from assistant.live.session import LiveSession
from assistant.server.guard import close_reason
from assistant.server.protocol import (
    SKIP,
    Approve,
    BadMessage,
    Deny,
    Interrupt,
    Mode,
    Ping,
    Playback,
    Ptt,
    Reply,
    SelectVoice,
    Start,
    decision_problem,
    outgoing,
    parse_client_message,
)
from assistant.server.sink import WebSink
from core.audio import StreamResampler
from model.events import Error, Pong, Ready, Status, VoiceSelected

log = logging.getLogger("stepvox.server")

MAX_TEXT_BYTES = 64 * 1024
POLICY_VIOLATION, TRY_AGAIN_LATER, INTERNAL_ERROR = 1008, 1013, 1011


@dataclass(frozen=True)
class SocketLimits:
    max_sessions: int = 16
    max_input_seconds: float = 120.0
    max_frame_seconds: float = 1.0


class Outbox:
    """Frames to the client, in order, from any thread (turn workers included)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    def send(self, msg: Any) -> None:  # bytes or a model.events event
        try:
            if threading.get_ident() == self.loop_thread:
                self.queue.put_nowait(msg)
            else:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)
        except RuntimeError:  # the server's loop is gone (shutdown)
            pass

    def _frame(self, msg: Any) -> bytes | str | None:
        if isinstance(msg, bytes | bytearray):
            return bytes(msg)
        try:
            data = outgoing(msg)
            return None if data is None else json.dumps(data, default=str)
        except Exception as e:  # said, not dropped
            kind = getattr(msg, "type", type(msg).__name__)
            return json.dumps(outgoing(Error(message=f"could not send a {kind!r} event: {e}")))

    async def _run(self) -> None:
        while True:
            msg = await self.queue.get()
            if msg is None:
                return
            frame = self._frame(msg)
            if frame is None:
                continue
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_text(frame)
            except Exception:  # the page went away
                return

    async def finish(self, timeout: float = 2.0) -> None:
        self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(self.task, timeout=timeout)
        except Exception:
            self.task.cancel()


def _first(frame: dict) -> Start:
    text = frame.get("text")
    if text is None:
        raise BadMessage("first message must be a text frame {'type': 'start', ...}")
    if len(text) > MAX_TEXT_BYTES:
        raise BadMessage(f"bad message: {len(text)} characters (at most {MAX_TEXT_BYTES})")
    msg = parse_client_message(text)
    if not isinstance(msg, Start):
        raise BadMessage(f"first message must be {{'type': 'start', ...}}, not {msg.type!r}")
    return msg


def known_voice(assistant: Any, voice_id: str | None) -> bool:
    lister = getattr(assistant, "list_voices", None)
    if not voice_id or lister is None:
        return True
    return any(voice_id in (v.get("voice_id"), v.get("id"), v.get("name")) for v in lister())


def audio_frame(data: bytes, rate: int, max_seconds: float) -> np.ndarray:
    """The samples of a binary frame; BadMessage when it is not a plausible int16 PCM block."""
    if len(data) % 2:
        raise BadMessage(f"bad audio frame: {len(data)} bytes is not whole int16 samples")
    if len(data) > 2 * rate * max_seconds:
        raise BadMessage(
            f"bad audio frame: {len(data) // 2} samples is more than {max_seconds:g} s at "
            f"{rate} Hz; send smaller frames"
        )
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


async def serve_socket(
    ws: WebSocket, app: Any, holder: Any, endpoint: EndpointConfig, limits: SocketLimits
) -> None:
    """Admit the socket (or refuse it: too many sessions) and run its session."""
    if app.state.open_sockets >= limits.max_sessions:
        busy = f"server busy: {limits.max_sessions} sessions open (STEPVOX_MAX_SESSIONS)"
        try:
            await ws.accept()
            await ws.send_text(json.dumps(outgoing(Error(message=busy))))
            await ws.close(code=TRY_AGAIN_LATER, reason=close_reason(busy))
        except Exception:  # the client left first: nothing to tell it
            pass
        return
    app.state.open_sockets += 1  # no await since the check: no other socket got in between
    try:
        await ws.accept()
        await run_socket(ws, app, holder, endpoint, limits)
    except WebSocketDisconnect:  # the client left during the handshake
        pass
    except Exception as e:  # one line, never a traceback (run_socket handles the session's own)
        log.warning("stepvox: websocket ended: %s: %s", type(e).__name__, e)
    finally:
        app.state.open_sockets -= 1


async def run_socket(
    ws: WebSocket, app: Any, holder: Any, endpoint: EndpointConfig, limits: SocketLimits
) -> None:
    out = Outbox(ws)
    session: LiveSession | None = None
    close: tuple[int, str] | None = None
    try:
        frame = await ws.receive()
        if frame["type"] == "websocket.disconnect":
            return
        try:
            first = _first(frame)
        except BadMessage as e:
            out.send(Error(message=str(e)))
            close = (POLICY_VIOLATION, str(e))
            return
        out.send(Status(state="loading"))
        try:
            assistant = await asyncio.to_thread(holder.get, 600)
        except Exception as e:
            msg = f"assistant failed to load: {e}"
            out.send(Error(message=msg))
            close = (INTERNAL_ERROR, msg)
            return
        if not await asyncio.to_thread(known_voice, assistant, first.voice_id):
            msg = f"bad 'start' message: voice_id {first.voice_id!r}: no such voice in the library"
            out.send(Error(message=msg))
            close = (POLICY_VIOLATION, msg)
            return
        session = await _open_session(first, assistant, out, endpoint, limits)
        app.state.sessions.append(session)  # held before the client hears it is ready
        await _announce(first, session, assistant, out)
        await _serve(ws, first, session, assistant, out, limits)
    except WebSocketDisconnect:
        pass
    except Exception as e:  # one line in the log and an error event, never a traceback
        msg = f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        log.warning("stepvox: websocket session failed: %s", msg)
        out.send(Error(message=msg))
        close = (INTERNAL_ERROR, msg)
    finally:
        if session is not None:
            await asyncio.to_thread(session.close)
            session.discard()
            if session in app.state.sessions:
                app.state.sessions.remove(session)
        await out.finish()
        if close is not None:
            try:
                await ws.close(code=close[0], reason=close_reason(close[1]))
            except Exception:  # already closed by the client
                pass


async def _open_session(
    first: Start, assistant: Any, out: Outbox, endpoint: EndpointConfig, limits: SocketLimits
) -> LiveSession:
    out_rate = first.output_sample_rate or first.sample_rate
    thread_id = first.thread_id or f"web-{uuid.uuid4().hex[:8]}"
    sink = WebSink(out.send, out_rate)
    vad = await asyncio.to_thread(load_vad)

    def on_event(ev: Any) -> None:  # every session and turn event but the audio ones
        if getattr(ev, "type", None) not in SKIP:
            out.send(ev)

    session = LiveSession(
        assistant,
        sink,
        thread_id=thread_id,
        voice_id=first.voice_id or None,
        endpoint=endpoint,
        barge_in=first.barge_in,
        push_to_talk=first.mode == "ptt",
        on_event=on_event,
        vad_model=vad,
        max_ptt_seconds=limits.max_input_seconds,
    )
    session.web_sink = sink  # type: ignore[attr-defined]
    session.out_rate = out_rate  # type: ignore[attr-defined]
    return session


async def _announce(first: Start, session: LiveSession, assistant: Any, out: Outbox) -> None:
    """`ready`, then `waiting` when the conversation is already paused for a person."""
    out.send(
        Ready(
            thread_id=session.thread_id,
            output_sample_rate=session.out_rate,  # type: ignore[attr-defined]
            policy=str(getattr(getattr(assistant, "policy", None), "name", None) or "unknown"),
            mode=first.mode,
            barge_in=first.barge_in,
        )
    )
    waiting = await asyncio.to_thread(waiting_for, assistant, session.thread_id)
    if waiting is not None:  # paused before this connection (another page, a restart)
        out.send(waiting)


def waiting_for(assistant: Any, thread_id: str) -> Any:
    """What the conversation is paused for (`model.events.Waiting`), or None."""
    fn = getattr(assistant, "waiting", None)
    return fn(thread_id) if callable(fn) else None


async def _serve(
    ws: WebSocket, first: Start, session: LiveSession, assistant: Any, out: Outbox,
    limits: SocketLimits,
) -> None:
    in_rate = first.sample_rate
    resampler = StreamResampler(in_rate, SAMPLE_RATE) if in_rate != SAMPLE_RATE else None
    sink: WebSink = session.web_sink  # type: ignore[attr-defined]
    while True:
        frame = await ws.receive()
        if frame["type"] == "websocket.disconnect":
            return
        try:
            if frame.get("bytes") is not None:
                x = audio_frame(frame["bytes"], in_rate, limits.max_frame_seconds)
                if resampler is not None:
                    x = resampler.process(x)
                await asyncio.to_thread(session.feed, x)
                continue
            text = frame.get("text") or ""
            if len(text) > MAX_TEXT_BYTES:
                raise BadMessage(f"bad message: {len(text)} characters (at most {MAX_TEXT_BYTES})")
            msg = parse_client_message(text)
        except BadMessage as e:
            out.send(Error(message=str(e)))
            continue
        if isinstance(msg, SelectVoice):
            if not await asyncio.to_thread(known_voice, assistant, msg.voice_id):
                out.send(
                    Error(message=f"bad 'voice' message: {msg.voice_id!r}: no such voice in the library")
                )
                continue
            session.set_voice(msg.voice_id or None)
            out.send(VoiceSelected(voice_id=msg.voice_id or None))
        elif isinstance(msg, Ptt):
            await asyncio.to_thread(session.press if msg.pressed else session.release)
        elif isinstance(msg, Mode):
            session.push_to_talk = msg.mode == "ptt"
        elif isinstance(msg, Interrupt):
            await asyncio.to_thread(session.interrupt)
        elif isinstance(msg, Playback):
            sink.client_idle()
        elif isinstance(msg, Ping):
            out.send(Pong())
        elif isinstance(msg, Approve | Deny | Reply):
            if session.resuming:  # e.g. a second click: one decision at a time
                out.send(Error(message=f"bad {msg.type!r} message: the last decision is still "
                                       "being carried out"))
                continue
            waiting = await asyncio.to_thread(waiting_for, assistant, session.thread_id)
            problem = decision_problem(msg, waiting)
            if problem:
                out.send(Error(message=problem))
                continue
            await asyncio.to_thread(session.resume, msg.decision())
        elif isinstance(msg, Start):
            out.send(Error(message="bad 'start' message: the session has already started"))
