"""The `mcp_servers` setting: one checked MCP server entry (stdio or streamable HTTP).
docs/mcp.md; the setting itself is in `core.settings`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class MCPServer(BaseModel):
    """One MCP server (`mcp_servers.<name>`): a stdio server started as `command` + `args`
    (+ `env`, `cwd`), or a streamable HTTP server at `url` (+ `headers`). docs/mcp.md."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    # True: every tool of the server needs a person's approval; a list: those tools do
    approval: bool | list[str] = False
    # phrasings by tool name, for the embedded router (it also matches each tool's description)
    examples: dict[str, list[str]] = Field(default_factory=dict)
    # True: the assistant refuses to start when this server cannot be reached
    required: bool = False
    startup_timeout_s: float = Field(20.0, gt=0, le=600)

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "streamable_http"

    def needs_approval(self, tool: str) -> bool:
        return self.approval is True or (isinstance(self.approval, list) and tool in self.approval)

    @field_validator("approval", mode="before")
    @classmethod
    def _approval(cls, v: Any) -> Any:
        if not isinstance(v, bool | list) or (isinstance(v, list) and not all(isinstance(t, str) for t in v)):
            raise ValueError('expected true, false or a list of tool names, e.g. ["cancel_order"]')
        return v

    @field_serializer("env", "headers", when_used="json")
    def _hidden(self, v: dict[str, str] | None) -> dict[str, str] | None:
        # `stepvox settings` shows which variables and headers are set, not their values
        return None if v is None else dict.fromkeys(v, "<hidden>")


def mcp_server(name: Any, value: Any) -> MCPServer:
    """One `mcp_servers` entry, checked; ValueError is one line naming the server."""
    if not isinstance(name, str) or not _SERVER_NAME.match(name):
        raise ValueError(f"server name {name!r}: use 1-64 letters, digits, '_' or '-'")
    where = f"server {name!r}"
    if isinstance(value, MCPServer):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a table (TOML) or an object (JSON) with `command` or `url`")
    known = list(MCPServer.model_fields)
    for key in value:
        if key not in known:
            raise ValueError(f"{where}: unknown key {key!r} (known: {', '.join(known)})")
    try:
        server = MCPServer.model_validate(value)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"][:2])
        raise ValueError(f"{where}: {loc}: {str(err['msg']).removeprefix('Value error, ')}") from None
    if bool(server.command) == bool(server.url):
        both = "not both" if server.command and server.url else "one of them"
        raise ValueError(f"{where}: give `command` (a stdio server) or `url` (a streamable HTTP server), {both}")
    if server.command is not None and not server.command.strip():
        raise ValueError(f"{where}: command: must not be empty")
    if server.url is not None:
        u = urlsplit(server.url)
        try:
            u.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as e:
            raise ValueError(f"{where}: url {server.url!r}: bad port ({e})") from None
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"{where}: url {server.url!r}: expected an http:// or https:// URL, "
                             "e.g. http://127.0.0.1:8000/mcp")
        if server.args or server.env or server.cwd:
            raise ValueError(f"{where}: args, env and cwd are for a stdio server (`command`), not a `url`")
    elif server.headers:
        raise ValueError(f"{where}: headers are for a streamable HTTP server (`url`), not a `command`")
    if isinstance(server.approval, list) and not all(t.strip() for t in server.approval):
        raise ValueError(f"{where}: approval: tool names must not be empty")
    if any(not e.strip() for phrasings in server.examples.values() for e in phrasings):
        raise ValueError(f"{where}: examples: phrasings must not be empty")
    return server
