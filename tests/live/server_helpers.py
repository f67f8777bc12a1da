"""Helpers for the server tests: raw multipart bodies, a digest of the stored corpus, a
websockets client that reports how a connection ended."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

BOUNDARY = "stepvoxTestBoundary7MA4YWxk"


def multipart(*files: tuple[str, bytes], field: str = "files", boundary: str = BOUNDARY):
    """(body, headers) of a multipart/form-data upload, file names sent exactly as given."""
    out = b""
    for name, data in files:
        out += (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def wait_closed(app: Any, timeout: float = 10.0) -> bool:
    """Wait until the server holds no session and no socket (closing one takes a moment)."""
    import time

    deadline = time.time() + timeout
    while (app.state.sessions or app.state.open_sockets) and time.time() < deadline:
        time.sleep(0.05)
    return not app.state.sessions and app.state.open_sockets == 0


def store_digest(assistant: Any, *dirs: Path) -> str:
    """The corpus documents (source, hash, chunks) and every file under `dirs`."""
    docs = assistant.corpus.documents()
    files = sorted(
        (str(p), p.stat().st_size) for d in dirs if d.exists() for p in d.rglob("*") if p.is_file()
    )
    return hashlib.sha256(json.dumps([docs, files], default=str).encode()).hexdigest()


async def ws_session(url: str, frames: list, *, expect: int | None = None, **connect: Any) -> dict:
    """Connect, send `frames` (a dict as JSON, str/bytes as they are; after a `start` the
    status/ready replies are read), then read `expect` more JSON messages, or (None) until the
    server closes. {"refused": HTTP status} when the handshake is refused, else
    {"messages": [...], "close": (code, reason) or None}."""
    import websockets

    msgs: list = []

    async def recv_json(ws) -> dict | None:
        m = await asyncio.wait_for(ws.recv(), 30)
        return json.loads(m) if isinstance(m, str) else None

    try:
        async with websockets.connect(url, **connect) as ws:
            try:
                for f in frames:
                    await ws.send(json.dumps(f) if isinstance(f, dict) else f)
                    if isinstance(f, dict) and f.get("type") == "start":
                        while not msgs or msgs[-1]["type"] not in ("ready", "error"):
                            if (m := await recv_json(ws)) is not None:
                                msgs.append(m)
                got = 0
                while expect is None or got < expect:
                    if (m := await recv_json(ws)) is not None:
                        msgs.append(m)
                        got += 1
                return {"messages": msgs, "close": None}
            except websockets.ConnectionClosed as e:
                rcvd = e.rcvd
                while True:  # what arrived before the close (a send can fail before it is read)
                    try:
                        m = await asyncio.wait_for(ws.recv(), 5)
                    except (websockets.ConnectionClosed, TimeoutError):
                        break
                    if isinstance(m, str) and json.loads(m) not in msgs:
                        msgs.append(json.loads(m))
                return {"messages": msgs, "close": (rcvd.code, rcvd.reason) if rcvd else (1006, "")}
    except websockets.InvalidStatus as e:
        return {"refused": e.response.status_code}


def stepvox(*args: str, env: dict | None = None, home: Path | None = None) -> subprocess.Popen:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    if home is not None:
        full["STEPVOX_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", *args],
        cwd=ROOT, env=full, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def one_line_exit(p: subprocess.Popen, code: int, *words: str, timeout: float = 120) -> str:
    out, err = p.communicate(timeout=timeout)
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith(("stepvox serving", "warning:"))]
    assert p.returncode == code, (p.returncode, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], err
    return lines[0]
