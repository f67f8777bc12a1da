"""Helpers for the MCP tests: the test server (tests/agents/mcp_server.py) as a stdio server's
settings or as a streamable HTTP server process on a free loopback port, and what its tool log
and /proc say about its processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from core.settings import MCPServer

SERVER = Path(__file__).with_name("mcp_server.py")
TOKEN = "test-token-5f1c"


def stdio(log: Path | None = None, **kw) -> MCPServer:
    """The test server over stdio (its calls logged to `log`)."""
    env = {"MCP_TEST_LOG": str(log)} if log else None
    return MCPServer(command=sys.executable, args=[str(SERVER), "stdio"], env=env, **kw)


def stdio_json(log: Path, **kw) -> dict:
    return {"command": sys.executable, "args": [str(SERVER), "stdio"], "env": {"MCP_TEST_LOG": str(log)}, **kw}


class HttpServer:
    """The test server over streamable HTTP, requiring `X-Token: TOKEN`."""

    def __init__(self, log: Path | None = None) -> None:
        env = {**os.environ, "MCP_TEST_LOG": str(log)} if log is not None else None
        self.proc = subprocess.Popen([sys.executable, str(SERVER), "http", TOKEN], stdout=subprocess.PIPE,
                                     text=True, env=env)  # fmt: skip
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"the test MCP server did not start: {line!r}"
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def config(self, **kw) -> MCPServer:
        return MCPServer(url=self.url, headers={"X-Token": TOKEN}, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next((ln for ln in status.splitlines() if ln.startswith("State:")), "")
    return "zombie" not in state and "(dead)" not in state


def gone(pid: int, within_s: float = 5.0) -> bool:
    end = time.monotonic() + within_s
    while alive(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def server_pids() -> set[int]:
    """Processes running the test server over stdio (children of this test process or not)."""
    out = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(SERVER).encode() in cmd and b"stdio" in cmd and alive(int(p.name)):
            out.add(int(p.name))
    return out
