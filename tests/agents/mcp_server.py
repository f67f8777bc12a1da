"""A small real MCP server (the `mcp` package's FastMCP) for the MCP tool tests.

    python mcp_server.py stdio            # speaks MCP on stdin/stdout
    python mcp_server.py http [TOKEN]     # streamable HTTP on a free loopback port; prints
                                          # "PORT <n>" on stdout once it listens; with TOKEN,
                                          # every request must carry `X-Token: TOKEN`

Tools: `lookup_order(order_id)`, `add(a, b)`, `cancel_order(order_id)`, `explode(reason)` (always
fails), `slow(seconds)`. Each tool call is appended to the file named by MCP_TEST_LOG, when set.
"""

from __future__ import annotations

import json
import os
import socket
import sys

import anyio
from mcp.server.fastmcp import FastMCP

ORDERS = {
    "A-1234": {"order_id": "A-1234", "status": "shipped", "carrier": "Parcelway", "eta": "Friday"},
    "B-7": {"order_id": "B-7", "status": "waiting for payment"},
}

server = FastMCP("orders", log_level="WARNING")


def _log(tool: str, **args) -> None:
    path = os.environ.get("MCP_TEST_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"tool": tool, "args": args, "pid": os.getpid()}) + "\n")


@server.tool()
def lookup_order(order_id: str) -> dict:
    """Look up the delivery status of a customer's order by its order number."""
    _log("lookup_order", order_id=order_id)
    order = ORDERS.get(order_id.strip().upper())
    if order is None:
        raise ValueError(f"no order {order_id!r}")
    return order


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers together."""
    _log("add", a=a, b=b)
    return a + b


@server.tool()
def cancel_order(order_id: str) -> str:
    """Cancel a customer's order."""
    _log("cancel_order", order_id=order_id)
    return f"order {order_id} cancelled"


@server.tool()
def explode(reason: str) -> str:
    """A tool that always fails."""
    _log("explode", reason=reason)
    raise RuntimeError(f"exploded: {reason}\nsecond line of the failure")


@server.tool()
async def slow(seconds: float) -> str:
    """Wait a while, then answer (the server answers other calls meanwhile)."""
    _log("slow", seconds=seconds)
    await anyio.sleep(seconds)
    return "done waiting"


def _http(token: str | None) -> None:
    import uvicorn

    app = server.streamable_http_app()
    if token:
        inner = app

        async def app(scope, receive, send):  # noqa: F811 - the app behind a token check
            if scope["type"] == "http" and dict(scope["headers"]).get(b"x-token") != token.encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"bad token"})
                return
            await inner(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "http":
        _http(sys.argv[2] if len(sys.argv) > 2 else None)
    else:
        server.run("stdio")
