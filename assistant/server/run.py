"""Run the app: in the foreground (`stepvox serve`) or on a background thread (tests, benchmarks).

Both use the same uvicorn options: WebSocket messages of at most `WS_MAX_SIZE` bytes (larger
ones close the socket with 1009), and `X-Forwarded-*` headers ignored unless `proxy_headers`
is on, and then only from `forwarded_allow_ips` (the trusted reverse proxy).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI

WS_MAX_SIZE = 1024 * 1024


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def uvicorn_config(
    app: FastAPI,
    host: str,
    port: int,
    *,
    proxy_headers: bool = False,
    forwarded_allow_ips: str | None = None,
    **extra: Any,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        ws_max_size=WS_MAX_SIZE,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips or "127.0.0.1",
        **extra,
    )


class ServerThread:
    def __init__(
        self, app: FastAPI, host: str = "127.0.0.1", port: int | None = None, **options: Any
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(uvicorn_config(app, host, self.port, **options))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"server did not start on {self.url}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_forever(app: FastAPI, host: str, port: int, **options: Any) -> None:
    """Serve until Ctrl-C. When the assistant fails to load, stop serving and raise why
    (a server whose assistant cannot answer is no use to keep open)."""
    server = uvicorn.Server(uvicorn_config(app, host, port, **options))
    holder = app.state.holder

    def watch() -> None:
        holder.wait()
        if holder.failure is not None:
            server.should_exit = True

    threading.Thread(target=watch, daemon=True, name="assistant-watch").start()
    server.run()
    if holder.failure is not None:
        raise holder.failure
