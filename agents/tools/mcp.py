"""MCP tools: the tools of the MCP servers named in the settings (`mcp_servers`), loaded with
langchain-mcp-adapters, made to behave as any other stepvox tool.

The adapters give async-only tools bound to a live client session, and an MCP session (a stdio
child process, or a streamable HTTP session) must be opened and closed by one asyncio task. So
`MCPTools` runs one event loop in a background thread; each server has a task there that opens
its session, lists its tools and holds the session until `close()` (`agents.tools.mcp_session`). Each tool is wrapped as a
`StructuredTool` with a sync `func` (the graph is sync: ToolNode calls `tool.invoke`) and an
async `coroutine`, both running the call on that loop with the `tool_timeout_s` limit.

- A result comes back as text (the server's text content, JSON for a structured result).
- A failure (the tool's error result, a timeout, a server that went away) is a one-line
  `ToolException`, which the tools node turns into an error result the policy speaks. A
  server that went away is reconnected on the next call of one of its tools.
- `approval = true` (or a list of tool names) in a server's settings marks its tools with
  `metadata["approval"] = True`. A name in the list the server does not offer stops that
  server from loading (a typo must not leave a tool ungated).
- A server that cannot be reached at start is left out with a one-line warning (`errors`
  says why), so one server down does not stop a voice assistant; `required = true` makes it
  `MCPServerError` instead.
- A tool whose name another tool already has is called `<server>_<tool>`.
- `close()` ends every session: the stdio servers' processes are gone when it returns. It
  also runs at interpreter exit for an `MCPTools` never closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from agents.tools.mcp_session import CLOSE_TIMEOUT_S, Session, log
from core.settings import MCPServer


class MCPServerError(RuntimeError):
    """A `required` MCP server could not be loaded. str(e) is one line naming it."""

    exit_code = 2


def _description(text: str | None, name: str) -> str:
    """The server's description, dedented; the tool's name in words when it has none (the
    embedded router matches requests against its first line)."""
    text = inspect.cleandoc(text or "").strip()
    return text or name.replace("_", " ").replace("-", " ")


class _Runtime:
    """The background loop and the sessions on it; `close` is idempotent."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: dict[str, Session] = {}
        self.thread = threading.Thread(target=self._run, name="stepvox-mcp", daemon=True)
        self.thread.start()
        self.closed = False

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except BaseException:
            fut.cancel()
            raise

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if threading.current_thread() is not self.thread and self.loop.is_running():
            async def close_all() -> None:
                await asyncio.gather(*(s.close() for s in self.servers.values()), return_exceptions=True)

            with contextlib.suppress(BaseException):
                self.run(close_all(), CLOSE_TIMEOUT_S + 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(5)
            if not self.thread.is_alive():
                self.loop.close()


class MCPTools:
    """The tools of the configured MCP servers, callable synchronously and asynchronously.

    `tools`: the wrapped tools, in server order; `errors`: server -> why its tools are missing;
    `counts`: server -> how many tools it gave. `reserved`: names other tools already have."""

    def __init__(
        self,
        servers: Mapping[str, MCPServer],
        *,
        timeout: float = 8.0,
        reserved: Iterable[str] = (),
        startup_timeout_s: float | None = None,
        warn: bool = True,
    ) -> None:
        self.timeout = timeout
        self.tools: list[BaseTool] = []
        self.errors: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.servers = dict(servers)
        if not self.servers:  # nothing to run: no thread either
            self._finalizer = weakref.finalize(self, lambda: None)
            return
        self._rt = _Runtime()
        self._finalizer = weakref.finalize(self, self._rt.close)  # at exit, if never closed
        for name, cfg in self.servers.items():
            self._rt.servers[name] = Session(name, cfg, timeout)
        limit = {n: min(c.startup_timeout_s, startup_timeout_s or c.startup_timeout_s)
                 for n, c in self.servers.items()}  # fmt: skip

        async def open_all() -> list[BaseException | None]:
            async def one(s: Session) -> BaseException | None:
                try:
                    await s.open(limit[s.name])
                except Exception as e:  # noqa: BLE001 - reported per server
                    return e
                return None

            return await asyncio.gather(*(one(s) for s in self._rt.servers.values()))

        results = self._rt.run(open_all(), max(limit.values()) + CLOSE_TIMEOUT_S + 5)
        taken = set(reserved)
        for (name, server), err in zip(self._rt.servers.items(), results, strict=True):
            problem = server.why(err) if err is not None else self._approval_problem(server)
            if problem is None:
                wrapped = self._wrap_all(server, taken)
                self.tools += wrapped
                self.counts[name] = len(wrapped)
                continue
            self.errors[name] = problem
            self._rt.run(server.close(), CLOSE_TIMEOUT_S + 5)
            if server.cfg.required:
                self.close()
                raise MCPServerError(f"MCP server {name!r}: {problem}")
            if warn:
                log.warning("MCP server %r: %s; its tools are left out", name, problem)

    @staticmethod
    def _approval_problem(server: Session) -> str | None:
        wanted = server.cfg.approval if isinstance(server.cfg.approval, list) else []
        unknown = [t for t in wanted if t not in server.adapters]
        if not unknown:
            return None
        offered = ", ".join(sorted(server.adapters)) or "none"
        return f"approval names tools the server does not offer: {', '.join(map(repr, unknown))} (it offers: {offered})"

    def _wrap_all(self, server: Session, taken: set[str]) -> list[BaseTool]:
        for unknown in sorted(set(server.cfg.examples) - set(server.adapters)):
            log.warning("MCP server %r: examples name a tool it does not offer: %r", server.name, unknown)
        out = []
        for mcp_name, adapter in server.adapters.items():
            name = mcp_name if mcp_name not in taken else f"{server.name}_{mcp_name}"
            if name in taken:
                log.warning("MCP server %r: tool %r left out (its name is taken)", server.name, mcp_name)
                continue
            taken.add(name)
            out.append(self._wrap(server, mcp_name, name, adapter))
        return out

    def _wrap(self, server: Session, mcp_name: str, name: str, adapter: BaseTool) -> BaseTool:
        rt, timeout = self._rt, self.timeout

        def run(**kwargs: Any) -> str:
            if rt.closed:
                raise ToolException(f"MCP server {server.name!r}: the MCP tools were closed")
            return rt.run(server.call(mcp_name, kwargs, timeout), timeout + CLOSE_TIMEOUT_S)

        async def arun(**kwargs: Any) -> str:
            if rt.closed:
                raise ToolException(f"MCP server {server.name!r}: the MCP tools were closed")
            fut = asyncio.run_coroutine_threadsafe(server.call(mcp_name, kwargs, timeout), rt.loop)
            return await asyncio.wrap_future(fut)

        metadata: dict[str, Any] = {"mcp_server": server.name}
        if server.cfg.needs_approval(mcp_name):
            metadata["approval"] = True
        if server.cfg.examples.get(mcp_name):
            metadata["examples"] = list(server.cfg.examples[mcp_name])
        return StructuredTool(
            name=name,
            description=_description(adapter.description, mcp_name),
            args_schema=adapter.args_schema,
            func=run,
            coroutine=arun,
            handle_tool_error=lambda e: str(e),
            metadata=metadata,
        )

    def close(self) -> None:
        """End every session (stdio servers' processes included) and the loop's thread."""
        self._finalizer()

    def __enter__(self) -> MCPTools:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def probe(servers: Mapping[str, MCPServer], timeout: float = 10.0) -> dict[str, str]:
    """Whether each server answers, for `stepvox doctor`: 'ok: N tools' or why not. The
    servers are tried at once, each for at most `timeout` seconds."""
    if not servers:
        return {}
    optional = {n: c.model_copy(update={"required": False}) for n, c in servers.items()}
    with MCPTools(optional, timeout=timeout, startup_timeout_s=timeout, warn=False) as m:
        out = {}
        for name, cfg in servers.items():
            where = f"stdio: {cfg.command} {' '.join(cfg.args)}".strip() if cfg.command else f"url: {cfg.url}"
            if name in m.errors:
                out[name] = f"FAILED ({where}): {m.errors[name]}"
            else:
                out[name] = f"ok: {m.counts.get(name, 0)} tools ({where})"
        return out


__all__ = ["MCPServerError", "MCPTools", "probe"]
