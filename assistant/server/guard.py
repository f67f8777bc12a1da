"""Who may talk to `stepvox serve`: a Host and Origin allow-list for every HTTP request and
WebSocket, as one small ASGI middleware in front of the whole app.

- `Host` (DNS rebinding: a page on evil.example whose name is re-pointed at 127.0.0.1 talks to
  the server as `Host: evil.example:PORT`): answered only for loopback names (localhost,
  127.0.0.1, [::1], ...) and the address the server was bound to, at the server's own port, and
  for the names in `allowed_hosts` (`name` at any port, `name:port` at that port). Anything
  else: HTTP 400; a WebSocket is closed before it is accepted (HTTP 403 on the wire).
- `Origin` (a page of another site, or another port of this machine): when present it must name
  an allowed host by the same rules, or the request is refused: HTTP 403, WebSocket closed
  before accept with code 4403 (HTTP 403 on the wire). `Origin: null` is refused.
- A state-changing request (POST, PUT, PATCH, DELETE; every WebSocket) without `Origin` but
  with `Sec-Fetch-Site: cross-site` or `same-site` is refused too (403).

Refusals are logged as one line on the `stepvox.server` logger.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from assistant.server.auth import is_loopback

log = logging.getLogger("stepvox.server")

WILDCARD_BINDS = {"", "0.0.0.0", "::", "[::]"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def close_reason(text: str) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8."""
    return text.encode("utf-8")[:120].decode("utf-8", "ignore")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Authority:
    host: str  # lower case, IPv6 without brackets
    port: int | None

    @classmethod
    def parse(cls, text: str) -> Authority:
        """`host`, `host:port`, `[v6]:port`; ValueError when it is not one."""
        text = text.strip()
        if not text or any(c in text for c in "/?#@ \t\\") or any(ord(c) < 33 for c in text):
            raise ValueError(text)
        parts = urlsplit("//" + text)
        host, port = parts.hostname, parts.port  # .port raises ValueError on a bad port
        if not host:
            raise ValueError(text)
        return cls(host.lower().rstrip("."), port)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class HostPolicy:
    """Which `host[:port]` this server answers to; see the module docstring."""

    def __init__(self, allowed_hosts: Iterable[str] = (), bind_host: str | None = None) -> None:
        self.entries = [Authority.parse(h) for h in allowed_hosts]
        bind = (bind_host or "").strip()
        self.bind = None if bind in WILDCARD_BINDS else Authority.parse(bind).host

    def allows(self, auth: Authority, default_port: int, server: tuple | None) -> bool:
        port = auth.port or default_port
        for e in self.entries:
            if e.host == auth.host and (e.port is None or e.port == port):
                return True
        server_host, server_port = (server or (None, None))[:2]
        own = is_loopback(auth.host) or auth.host == self.bind
        if not own and server_host and _ip(auth.host) is not None:
            # an IP literal the connection itself arrived on (a 0.0.0.0 bind reached by its LAN
            # address): no name, so nothing to rebind
            own = _ip(auth.host) == _ip(str(server_host))
        return own and (server_port is None or port == int(server_port))

    def check(self, scope: dict) -> None:
        """Raise `Refused` when the request's Host, Origin or Sec-Fetch-Site is not allowed."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        kind = scope["type"]
        scheme = scope.get("scheme") or ("ws" if kind == "websocket" else "http")
        server = scope.get("server")
        host_header = headers.get("host", "")
        try:
            host = Authority.parse(host_header)
        except ValueError:
            raise Refused(400, f"bad Host header {host_header!r}") from None
        if not self.allows(host, DEFAULT_PORTS.get(scheme, 80), server):
            raise Refused(
                400, f"Host {host_header!r} is not served here (add it to STEPVOX_ALLOWED_HOSTS)"
            )
        origin = headers.get("origin")
        if origin is not None:
            if not self._origin_ok(origin, server):
                raise Refused(403, f"Origin {origin!r} may not use this server")
            return
        state_changing = kind == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
        site = headers.get("sec-fetch-site", "").lower()
        if state_changing and site in ("cross-site", "same-site"):
            raise Refused(403, f"a {site} request may not use this server")

    def _origin_ok(self, origin: str, server: tuple | None) -> bool:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
            return False  # "null", file:, chrome-extension:, garbage
        try:
            auth = Authority.parse(parts.netloc)
        except ValueError:
            return False
        return self.allows(auth, DEFAULT_PORTS[parts.scheme], server)


class HostOriginGuard:
    """ASGI middleware applying `HostPolicy` to every http and websocket scope."""

    def __init__(self, app, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        try:
            self.policy.check(scope)
        except Refused as e:
            log.warning("stepvox: refused %s %s: %s", scope["type"], scope.get("path", ""), e)
            if scope["type"] == "http":
                body = json.dumps({"detail": str(e)}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": e.status,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            else:
                code = 4403 if e.status == 403 else 4400
                try:
                    await receive()  # websocket.connect
                    await send({"type": "websocket.close", "code": code, "reason": close_reason(str(e))})
                except Exception:  # the client is already gone
                    pass
            return
        await self.app(scope, receive, send)
