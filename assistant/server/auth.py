"""Token auth for `stepvox serve`.

Loopback binds need no token. Any other bind address requires one (`--token`, or one is
generated and printed). The token may arrive as `Authorization: Bearer T`, `?token=T`, or
the `stepvox_token` cookie the page sets when it is opened with `?token=T`.
"""

from __future__ import annotations

import ipaddress
import secrets

COOKIE = "stepvox_token"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> tuple[str | None, bool]:
    """The token to require (None: open) and whether it was generated here."""
    if token:
        return token, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(18), True


def token_ok(
    expected: str | None, *, header: str | None, query: str | None, cookie: str | None
) -> bool:
    if expected is None:
        return True
    candidates = []
    if header and header.lower().startswith("bearer "):
        candidates.append(header[7:].strip())
    candidates += [c for c in (query, cookie) if c]
    return any(secrets.compare_digest(c.encode(), expected.encode()) for c in candidates)
