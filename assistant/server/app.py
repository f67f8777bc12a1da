"""`stepvox serve`: a FastAPI app with one web page and a WebSocket voice protocol.

Routes
  GET  /                 the page (static/index.html); `?token=T` sets the auth cookie
  GET  /static/...       the page's scripts (AudioWorklets for capture and playback)
  GET  /api/health       {"ok": true, "assistant": "loading" | "ready" | "error: ...", "sessions": n}
  GET  /api/voices       the voice library, for the voice picker
  POST /api/corpus       multipart `files`: add documents to the knowledge corpus
  WS   /ws               the voice protocol (see docs/live.md and `protocol.py`)

Every request and WebSocket passes the Host/Origin allow-list first (`guard.py`). All routes
but /static and /api/health then check the token when one is set. There is no /docs, /redoc
or /openapi.json. Errors are one-line JSON: `{"detail": "..."}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from assistant.errors import UserError
from assistant.live.endpointer import EndpointConfig
from assistant.server.auth import COOKIE, token_ok
from assistant.server.guard import HostOriginGuard, HostPolicy
from assistant.server.sink import WebSink
from assistant.server.uploads import UploadError, receive_files, remove, request_dir, sweep
from assistant.server.voice_socket import SocketLimits, serve_socket
from core.settings import Settings, load_settings, private_dir

__all__ = ["AssistantHolder", "WebSink", "create_app"]

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("stepvox.server")


STATIC = Path(__file__).parent / "static"


class AssistantHolder:
    """Loads the assistant once, in the background, and shares it between connections."""

    def __init__(self, factory: Callable[[], Any] | None = None, instance: Any = None) -> None:
        self._factory = factory
        self._instance = instance
        self._error: str | None = None
        self.failure: BaseException | None = None  # why it did not load (`serve` re-raises it)
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
            self.failure = e
            self._error = str(e).splitlines()[0] if str(e) else type(e).__name__
        finally:
            self._ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until loading has finished, well or not."""
        return self._ready.wait(timeout)

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


def create_app(
    assistant: Any = None,
    *,
    assistant_factory: Callable[[], Any] | None = None,
    token: str | None = None,
    endpoint: EndpointConfig | None = None,
    upload_dir: Path | None = None,
    settings: Settings | None = None,
    bind_host: str | None = None,
) -> FastAPI:
    """Build the app. Pass a ready `assistant`, or a `assistant_factory` loaded at startup.

    `settings` (default: the environment's) gives `allowed_hosts`, `max_upload_mb`,
    `max_sessions` and `max_input_seconds`; `bind_host` is the address served (allowed as a
    Host besides loopback unless it is a wildcard); uploads go under `upload_dir` (default: a
    private temporary directory)."""
    s = settings or load_settings()
    holder = AssistantHolder(assistant_factory, assistant)
    limits = SocketLimits(max_sessions=s.max_sessions, max_input_seconds=s.max_input_seconds)
    max_upload = int(s.max_upload_mb * 1024 * 1024)
    uploads = {"base": Path(upload_dir) if upload_dir else None}
    upload_lock = asyncio.Lock()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        holder.start_loading()  # models load in the background while the page opens
        if uploads["base"] is not None:
            sweep(uploads["base"])  # what a killed server left mid-upload
        yield

    app = FastAPI(
        title="stepvox", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.add_middleware(HostOriginGuard, policy=HostPolicy(s.allowed_hosts, bind_host))
    app.state.holder = holder
    app.state.token = token
    app.state.sessions = []  # the live LiveSessions (a closed one is dropped)
    app.state.open_sockets = 0
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

    async def loaded() -> Any:
        try:
            return await asyncio.to_thread(holder.get, 120)
        except TimeoutError:
            raise HTTPException(503, "the assistant is still loading; try again") from None
        except RuntimeError as e:
            raise HTTPException(503, f"the assistant failed to load: {e}") from None

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        check(request)
        resp = HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))
        q = request.query_params.get("token")
        if token and q:
            resp.set_cookie(
                COOKIE, q, httponly=True, samesite="strict", secure=request.url.scheme == "https"
            )
        return resp

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/api/health")
    def health(request: Request):
        """Open to all (monitoring): without the token only the coarse state, never the load
        error's text (it can name local paths) or how many people are talking."""
        try:
            check(request)
        except HTTPException:
            return {"ok": True, "assistant": holder.state.split(":")[0]}
        return {"ok": True, "assistant": holder.state, "sessions": len(app.state.sessions)}

    @app.get("/api/voices")
    async def voices(request: Request):
        check(request)
        a = await loaded()
        out = []
        for v in await asyncio.to_thread(a.list_voices):
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
    async def corpus(request: Request):
        check(request)
        if uploads["base"] is None:
            uploads["base"] = Path(tempfile.mkdtemp(prefix="stepvox-uploads-"))
        base: Path = uploads["base"]
        dest = request_dir(base)
        try:
            try:
                received = await receive_files(request.headers, request.stream(), dest, max_upload)
            except UploadError as e:
                raise HTTPException(e.status, str(e)) from None
            a = await loaded()
            result = await _index(a, received, private_dir(base / "documents"), upload_lock)
        finally:
            remove(dest)
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
        await serve_socket(ws, app, holder, endpoint, limits)

    return app


async def _index(assistant: Any, received: list[Path], docs: Path, lock: asyncio.Lock) -> Any:
    """Index the uploaded files under stable names (`docs/<name>`: uploading a file again
    updates its document rather than adding a copy), one upload at a time; the files are
    removed afterwards, also when indexing fails."""
    async with lock:
        staged = []
        try:
            for p in received:
                q = docs / p.name
                os.replace(p, q)
                staged.append(q)
            return await asyncio.to_thread(assistant.add_corpus, staged)
        except (UserError, ValueError, OSError) as e:  # a bad document
            raise HTTPException(400, str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        except Exception as e:
            log.warning("stepvox: indexing an upload failed: %s: %s", type(e).__name__, e)
            raise HTTPException(500, f"internal error while indexing: {type(e).__name__}") from None
        finally:
            for q in staged:
                q.unlink(missing_ok=True)


def jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))
