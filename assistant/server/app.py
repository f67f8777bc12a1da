"""`stepvox serve`: a FastAPI app with one web page and a WebSocket voice protocol.

Routes
  GET  /                 the page (static/index.html); `?token=T` sets the auth cookie
  GET  /static/...       the page's scripts (AudioWorklets for capture and playback)
  GET  /api/health       {"ok": true, "assistant": "loading" | "ready" | "error: ..."}
  GET  /api/voices       the voice library, for the voice picker
  POST /api/corpus       multipart `files`: add documents to the knowledge corpus
  WS   /ws               the voice protocol (see docs/live.md and `protocol.py`)

All routes but /static and /api/health check the token when one is set.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import (
    FastAPI,
    File,
    HTTPException,
    Request,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from assistant.live.endpointer import SAMPLE_RATE, EndpointConfig, load_vad
from assistant.live.session import LiveSession
from assistant.server.auth import COOKIE, token_ok
from assistant.server.protocol import (
    SKIP,
    BadMessage,
    Interrupt,
    Mode,
    Ping,
    Playback,
    Ptt,
    SelectVoice,
    Start,
    outgoing,
    parse_client_message,
)
from core.audio import StreamResampler, resample
from model.events import Error, Pong, Ready, Status, StopPlayback, VoiceSelected

STATIC = Path(__file__).parent / "static"


class AssistantHolder:
    """Loads the assistant once, in the background, and shares it between connections."""

    def __init__(self, factory: Callable[[], Any] | None = None, instance: Any = None) -> None:
        self._factory = factory
        self._instance = instance
        self._error: str | None = None
        self._ready = threading.Event()
        if instance is not None:
            self._ready.set()
        self._started = False
        self._lock = threading.Lock()

    def start_loading(self) -> None:
        with self._lock:
            if self._started or self._ready.is_set():
                return
            self._started = True
        threading.Thread(target=self._load, daemon=True, name="assistant-load").start()

    def _load(self) -> None:
        try:
            assert self._factory is not None
            self._instance = self._factory()
            warm = getattr(self._instance, "warmup", None)
            if callable(warm):
                warm()
        except Exception as e:
            self._error = f"{type(e).__name__}: {e}"
        finally:
            self._ready.set()

    @property
    def state(self) -> str:
        if not self._ready.is_set():
            return "loading"
        return f"error: {self._error}" if self._error else "ready"

    def get(self, timeout: float | None = None) -> Any:
        self.start_loading()
        if not self._ready.wait(timeout):
            raise TimeoutError("assistant still loading")
        if self._error:
            raise RuntimeError(self._error)
        return self._instance


class WebSink:
    """ReplySink over a WebSocket: reply audio goes out as binary PCM16 at the page's rate,
    a stop as a `StopPlayback` event.

    It counts as playing from the first chunk until the page reports its player idle
    (or, failing that, until the audio sent has had time to play out)."""

    def __init__(self, send: Callable[[Any], None], out_rate: int) -> None:
        self._send = send
        self.out_rate = out_rate
        self._lock = threading.Lock()
        self._open = False
        self._play_until = 0.0
        self._client_idle = True
        self.first_send_time: float | None = None
        self._sent_seconds = 0.0

    def begin(self) -> None:
        with self._lock:
            self._open = True
            self._client_idle = False
            self.first_send_time = None
            self._sent_seconds = 0.0
            self._play_until = time.perf_counter()

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        x = resample(np.asarray(samples, np.float32).reshape(-1), int(sample_rate), self.out_rate)
        if x.size == 0:
            return
        with self._lock:
            if not self._open:
                return
            now = time.perf_counter()
            if self.first_send_time is None:
                self.first_send_time = now
            self._play_until = max(self._play_until, now) + x.size / self.out_rate
            self._sent_seconds += x.size / self.out_rate
        pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
        self._send(pcm)

    def end(self) -> None:
        with self._lock:
            self._open = False

    def stop(self) -> None:
        with self._lock:
            was = self._open or not self._client_idle
            self._open = False
            self._client_idle = True
            self._play_until = 0.0
        if was:
            self._send(StopPlayback())

    @property
    def played_seconds(self) -> float:
        """Estimated: the page plays what it gets in real time from the first chunk."""
        with self._lock:
            if self.first_send_time is None:
                return 0.0
            return min(self._sent_seconds, time.perf_counter() - self.first_send_time)

    def client_idle(self) -> None:
        with self._lock:
            if not self._open:
                self._client_idle = True

    @property
    def active(self) -> bool:
        with self._lock:
            if self._open:
                return True
            return not self._client_idle and time.perf_counter() < self._play_until + 0.5


def create_app(
    assistant: Any = None,
    *,
    assistant_factory: Callable[[], Any] | None = None,
    token: str | None = None,
    endpoint: EndpointConfig | None = None,
    upload_dir: Path | None = None,
) -> FastAPI:
    """Build the app. Pass a ready `assistant`, or a `assistant_factory` loaded at startup."""
    holder = AssistantHolder(assistant_factory, assistant)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        holder.start_loading()  # models load in the background while the page opens
        yield

    app = FastAPI(title="stepvox", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.holder = holder
    app.state.token = token
    app.state.sessions = []  # LiveSessions, for tests and benchmarks
    endpoint = endpoint or EndpointConfig()

    def check(request: Request) -> None:
        if not token_ok(
            token,
            header=request.headers.get("authorization"),
            query=request.query_params.get("token"),
            cookie=request.cookies.get(COOKIE),
        ):
            raise HTTPException(
                status_code=401, detail="missing or wrong token (open the page with ?token=...)"
            )

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        check(request)
        resp = HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))
        q = request.query_params.get("token")
        if token and q:
            resp.set_cookie(COOKIE, q, httponly=True, samesite="strict")
        return resp

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/api/health")
    def health():
        return {"ok": True, "assistant": holder.state}

    @app.get("/api/voices")
    def voices(request: Request):
        check(request)
        a = holder.get(timeout=120)
        out = []
        for v in a.list_voices():
            v = dict(v)
            vid = v.get("voice_id") or v.get("id")
            out.append(
                {
                    "voice_id": vid,
                    "name": v.get("name") or vid,
                    **{k: v[k] for k in v if k not in ("voice_id", "id", "name")},
                }
            )
        return JSONResponse(jsonable(out))

    @app.post("/api/corpus")
    async def corpus(request: Request, files: list[UploadFile] = File(...)):
        check(request)
        base = Path(upload_dir) if upload_dir else Path(tempfile.gettempdir()) / "stepvox-uploads"
        dest = base / uuid.uuid4().hex[:12]
        dest.mkdir(parents=True, exist_ok=True)
        paths = []
        for f in files:
            name = Path(f.filename or "upload.txt").name
            if not name or name.startswith("."):
                raise HTTPException(400, f"{f.filename!r}: bad file name")
            p = dest / name
            with p.open("wb") as out:
                shutil.copyfileobj(f.file, out)
            paths.append(p)
        a = holder.get(timeout=120)
        try:
            result = await asyncio.to_thread(a.add_corpus, paths)
        except Exception as e:  # UserError and friends: a bad document
            raise HTTPException(400, str(e)) from None
        return JSONResponse(jsonable(result if isinstance(result, dict) else {"result": result}))

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket):
        ok = token_ok(
            token,
            header=ws.headers.get("authorization"),
            query=ws.query_params.get("token"),
            cookie=ws.cookies.get(COOKIE),
        )
        if not ok:
            await ws.close(code=4401, reason="missing or wrong token")
            return
        await ws.accept()
        await run_socket(ws, app, holder, endpoint)

    return app


def jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


async def run_socket(
    ws: WebSocket, app: FastAPI, holder: AssistantHolder, endpoint: EndpointConfig
) -> None:
    loop = asyncio.get_running_loop()
    outq: asyncio.Queue = asyncio.Queue()

    loop_thread = threading.get_ident()

    def send(msg: Any) -> None:  # bytes or a model.events event; from any thread, in order
        if threading.get_ident() == loop_thread:
            outq.put_nowait(msg)
        else:
            loop.call_soon_threadsafe(outq.put_nowait, msg)

    async def sender() -> None:
        while True:
            msg = await outq.get()
            if msg is None:
                return
            if isinstance(msg, bytes | bytearray):
                frame: bytes | str | None = bytes(msg)
            else:
                try:
                    data = outgoing(msg)
                    frame = None if data is None else json.dumps(data, default=str)
                except Exception:  # an event that cannot be serialized is dropped, not fatal
                    frame = None
            if frame is None:
                continue
            try:
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_text(frame)
            except Exception:  # the page went away
                return

    send_task = asyncio.create_task(sender())
    session: LiveSession | None = None
    try:
        first_frame = await ws.receive()
        if first_frame["type"] == "websocket.disconnect":
            return
        try:
            if first_frame.get("text") is None:
                raise BadMessage("first message must be a text frame {'type': 'start', ...}")
            first = parse_client_message(first_frame["text"])
            if not isinstance(first, Start):
                raise BadMessage(
                    f"first message must be {{'type': 'start', ...}}, not {first.type!r}"
                )
        except BadMessage as e:
            send(Error(message=str(e)))
            return
        in_rate = first.sample_rate
        out_rate = first.output_sample_rate or in_rate
        resampler = StreamResampler(in_rate, SAMPLE_RATE) if in_rate != SAMPLE_RATE else None
        thread_id = first.thread_id or f"web-{uuid.uuid4().hex[:8]}"
        send(Status(state="loading"))
        try:
            assistant = await asyncio.to_thread(holder.get, 600)
        except Exception as e:
            send(Error(message=f"assistant failed to load: {e}"))
            return
        sink = WebSink(send, out_rate)
        vad = await asyncio.to_thread(load_vad)

        def on_event(ev: Any) -> None:  # every session and turn event but the audio ones
            if getattr(ev, "type", None) not in SKIP:
                send(ev)

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
        )
        session.web_sink = sink  # type: ignore[attr-defined]
        app.state.sessions.append(session)
        send(
            Ready(
                thread_id=thread_id,
                output_sample_rate=out_rate,
                policy=str(getattr(getattr(assistant, "policy", None), "name", None) or "unknown"),
                mode=first.mode,
                barge_in=first.barge_in,
            )
        )
        while True:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                break
            if frame.get("bytes") is not None:
                x = np.frombuffer(frame["bytes"], dtype="<i2").astype(np.float32) / 32768.0
                if resampler is not None:
                    x = resampler.process(x)
                await asyncio.to_thread(session.feed, x)
                continue
            try:
                msg = parse_client_message(frame.get("text") or "")
            except BadMessage as e:
                send(Error(message=str(e)))
                continue
            if isinstance(msg, SelectVoice):
                session.set_voice(msg.voice_id or None)
                send(VoiceSelected(voice_id=msg.voice_id or None))
            elif isinstance(msg, Ptt):
                await asyncio.to_thread(session.press if msg.pressed else session.release)
            elif isinstance(msg, Mode):
                session.push_to_talk = msg.mode == "ptt"
            elif isinstance(msg, Interrupt):
                await asyncio.to_thread(session.interrupt)
            elif isinstance(msg, Playback):
                sink.client_idle()
            elif isinstance(msg, Ping):
                send(Pong())
            elif isinstance(msg, Start):
                send(Error(message="bad 'start' message: the session has already started"))
    except WebSocketDisconnect:
        pass
    finally:
        if session is not None:
            await asyncio.to_thread(session.close)
        outq.put_nowait(None)
        try:
            await asyncio.wait_for(send_task, timeout=2)
        except Exception:
            send_task.cancel()
