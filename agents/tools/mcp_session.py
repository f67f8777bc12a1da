"""One MCP server's session, for `agents.tools.mcp`: opened, held and closed by one asyncio
task (the MCP client's transports require it), its tools listed with langchain-mcp-adapters,
each call run with a time limit and turned into text or a one-line `ToolException`.

A stdio server's stderr is read by a small thread: each line is logged at DEBUG on
`stepvox.mcp.<server>`, and its last line is added to the reason the server failed (e.g. the
ImportError of a server that could not start), so a failure is one informative line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import threading
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.tools import BaseTool, ToolException

from core.settings import MCPServer

log = logging.getLogger("stepvox.mcp")

_BRACED = re.compile(r"\$\{([^}]+)\}")
CLOSE_TIMEOUT_S = 10.0  # a stdio server gets 2 s to exit after its stdin closes, then SIGTERM/KILL


def _expand(value: str) -> str:
    """`${VAR}` from stepvox's environment (a bare `$` is left alone, as the adapters do)."""
    return _BRACED.sub(lambda m: os.environ.get(m.group(1), m.group(0)), value)


def one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def reason(e: BaseException) -> str:
    """Why a server could not be used, in one line (the first cause inside exception groups)."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    if isinstance(e, FileNotFoundError):
        return f"command not found: {e.filename or e}"
    if isinstance(e, PermissionError):
        return f"command not executable: {e.filename or e}"
    if isinstance(e, TimeoutError):
        return "no answer in time"
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status} from the server"
    name = type(e).__name__
    if name in ("ConnectError", "ConnectTimeout"):
        return f"cannot connect ({one_line(str(e)) or name})"
    msg = one_line(str(e))
    if msg == "Connection closed" or name in ("ClosedResourceError", "BrokenResourceError", "EndOfStream"):
        return "the server closed the connection (is it an MCP server, and still running?)"
    return f"{name}: {msg}" if msg else name


def broken(e: BaseException) -> bool:
    """Whether a failed call means the session is gone (rather than, say, a result the adapters
    cannot convert)."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    name = type(e).__name__
    return (isinstance(e, OSError) or name in ("ClosedResourceError", "BrokenResourceError", "EndOfStream")
            or "Connection closed" in str(e) or type(e).__module__.startswith("httpx"))  # fmt: skip


class _OneLineRecords(logging.Filter):
    """The MCP client logs a stdio server's non-JSON output with a traceback: one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {one_line(str(record.exc_info[1]), 160)}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


logging.getLogger("mcp.client.stdio").addFilter(_OneLineRecords())


class StderrTail:
    """A stdio server's stderr: a pipe drained by a daemon thread, the last lines kept."""

    def __init__(self, name: str) -> None:
        r, w = os.pipe()
        self.file = open(w, "w", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in close()
        self._lines: deque[str] = deque(maxlen=20)
        self._log = logging.getLogger(f"stepvox.mcp.{name}")
        reader = open(r, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by the thread
        self._thread = threading.Thread(target=self._drain, args=(reader,), name=f"mcp-stderr-{name}",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _drain(self, reader: Any) -> None:
        with reader:  # ends when the server and this object have both closed the pipe
            for line in reader:
                if line.strip():
                    self._lines.append(line.strip())
                    self._log.debug("%s", line.rstrip())

    def last(self) -> str | None:
        """The last line written; once closed, after what was still in the pipe is read."""
        if self.file.closed:
            self._thread.join(0.5)
        return self._lines[-1] if self._lines else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


@contextlib.asynccontextmanager
async def _stdio_session(cfg: MCPServer, stderr: StderrTail) -> AsyncIterator[Any]:
    """The MCP client's stdio transport, the server's stderr going to `stderr` (the adapters'
    stdio session would let it write on ours)."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(cfg.command), args=list(cfg.args), cwd=cfg.cwd,
        env={k: _expand(v) for k, v in cfg.env.items()} if cfg.env is not None else None,
    )  # fmt: skip
    async with stdio_client(params, errlog=stderr.file) as (read, write), ClientSession(read, write) as s:
        yield s


def _http_connection(cfg: MCPServer, timeout: float) -> dict[str, Any]:
    """The adapters' streamable HTTP connection; `${VAR}` in a header reads the environment."""
    return {
        "transport": "streamable_http", "url": cfg.url,
        "headers": {k: _expand(v) for k, v in (cfg.headers or {}).items()},
        "timeout": timeout, "sse_read_timeout": max(timeout, 30.0),
    }  # fmt: skip


def result_text(content: Any, artifact: Any) -> str:
    """A tool's result as text: its text blocks (JSON for a structured result without text)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, dict):
            parts.append(f"[{block.get('type', 'content')}{' ' + block['url'] if block.get('url') else ''}]")
        else:
            parts.append(str(block))
    if not parts and isinstance(artifact, dict) and artifact.get("structured_content") is not None:
        return json.dumps(artifact["structured_content"], ensure_ascii=False, default=str)
    text = "\n".join(parts)
    try:  # JSON text: compact, as the other tools give theirs
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text


class Session:
    """One server's session, held by one task on the loop from `open` to `close`."""

    def __init__(self, name: str, cfg: MCPServer, call_timeout: float) -> None:
        self.name, self.cfg = name, cfg
        self.call_timeout = call_timeout
        self.adapters: dict[str, BaseTool] = {}  # the adapters' tools, by MCP name
        self.task: asyncio.Task | None = None
        self.stop: asyncio.Event | None = None
        self.stale = False
        self.lock: asyncio.Lock | None = None
        self.stderr: StderrTail | None = None

    def why(self, e: BaseException) -> str:
        """reason(e), with the last line a stdio server wrote on stderr."""
        said = self.stderr.last() if self.stderr is not None else None
        return reason(e) + (f"; it said: {one_line(said, 160)}" if said else "")

    async def open(self, timeout: float) -> None:
        """Start the session and list the tools; raises (after cleaning up) when it cannot."""
        from langchain_mcp_adapters.sessions import create_session
        from langchain_mcp_adapters.tools import load_mcp_tools

        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self.stop = asyncio.Event()
        self.lock = self.lock or asyncio.Lock()

        if self.cfg.command:
            self.stderr = StderrTail(self.name)
            opening = _stdio_session(self.cfg, self.stderr)
        else:
            opening = create_session(_http_connection(self.cfg, self.call_timeout))  # type: ignore[arg-type]
        stderr = self.stderr

        async def hold() -> None:
            try:
                async with opening as session:
                    await session.initialize()
                    tools = await load_mcp_tools(session, server_name=self.name)
                    self.adapters = {t.name: t for t in tools}
                    self.stale = False
                    ready.set_result(None)
                    await self.stop.wait()
            except BaseException as e:  # noqa: BLE001 - reported through `ready` or the next call
                if not ready.done():
                    ready.set_exception(e if isinstance(e, Exception) else ConnectionError(reason(e)))
                else:
                    log.debug("MCP server %r: session ended: %s", self.name, reason(e))
                self.stale = True
                if isinstance(e, asyncio.CancelledError):
                    raise
            finally:
                if stderr is not None:
                    stderr.close()

        self.task = loop.create_task(hold(), name=f"mcp:{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except BaseException:
            ready.cancel()  # a late outcome is nobody's
            await self.close(wait_s=0)
            raise

    async def close(self, wait_s: float = CLOSE_TIMEOUT_S) -> None:
        """End the session: let its task leave the session's context (which closes a stdio
        server's stdin and waits for it to exit), or cancel it after `wait_s`."""
        task, self.task = self.task, None
        if task is None:
            return
        if self.stop is not None:
            self.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), wait_s)
        except BaseException:  # noqa: BLE001 - not done: cancel it (stdio_client kills the process)
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def call(self, tool: str, args: dict[str, Any], timeout: float) -> str:
        assert self.lock is not None
        if self.stale or self.task is None or self.task.done():
            async with self.lock:  # the server went away: reconnect once for this call
                if self.stale or self.task is None or self.task.done():
                    await self.close()
                    try:
                        await self.open(self.cfg.startup_timeout_s)
                    except Exception as e:
                        raise ToolException(f"MCP server {self.name!r} is unavailable: {self.why(e)}") from None
        adapter = self.adapters.get(tool)
        if adapter is None or adapter.coroutine is None:
            raise ToolException(f"MCP server {self.name!r} no longer offers the tool {tool!r}")
        try:
            content, artifact = await asyncio.wait_for(adapter.coroutine(**args), timeout)
        except ToolException as e:  # the tool's own error result
            raise ToolException(one_line(str(e)) or f"{tool} failed") from None
        except TimeoutError:
            raise ToolException(f"MCP server {self.name!r} did not answer within {timeout:g} s") from None
        except Exception as e:
            if broken(e):  # the session broke: the next call reconnects
                self.stale = True
            raise ToolException(f"MCP server {self.name!r} failed: {self.why(e)}") from None
        return result_text(content, artifact)


