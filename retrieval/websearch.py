"""Web search through `ddgs` with a hard timeout and cleaned results.

Results are untrusted data: cleaned of HTML and whitespace noise, never instructions.
Any failure (offline, DNS, timeout, rate limit) becomes `WebSearchError` with a one-line
human message the assistant can say as is.
"""

from __future__ import annotations

import html
import re
import threading
from typing import Any

from retrieval.types import WebResult


class WebSearchError(RuntimeError):
    """Web search failed; str(e) is one sentence fit to be spoken."""


_TAG = re.compile(r"<[^>]{0,500}>")
_WS = re.compile(r"\s+")
_OFFLINE_HINTS = (
    "dns", "resolve", "resolution", "name or service", "nodename", "getaddrinfo",
    "network is unreachable", "connection refused", "connecterror", "connect error",
    "no route to host", "failed to establish", "temporary failure",
)  # fmt: skip


def clean_text(s: Any) -> str:
    """Strip tags, unescape entities, collapse whitespace."""
    if not s:
        return ""
    s = html.unescape(_TAG.sub(" ", str(s)))
    return _WS.sub(" ", s).strip()


def _classify(err: BaseException, timeout: float) -> WebSearchError:
    msg = f"{type(err).__name__}: {err}".lower()
    if any(h in msg for h in _OFFLINE_HINTS):
        return WebSearchError("web search is unavailable: no network connection")
    if "timed out" in msg or "timeout" in msg:
        return WebSearchError(f"web search timed out after {timeout:g} seconds")
    if "ratelimit" in msg or "rate limit" in msg or "429" in msg:
        return WebSearchError("web search is unavailable: the search service is rate-limiting us")
    first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
    return WebSearchError(f"web search failed: {first}")


def web_search(query: str, max_results: int = 5, timeout: float = 8.0) -> list[WebResult]:
    """Search the web; returns up to `max_results` cleaned results ([] when none match).

    Raises WebSearchError offline, on timeout, or when the service fails.
    """
    query = _WS.sub(" ", query or "").strip()
    if not query:
        raise WebSearchError("web search needs a non-empty query")
    try:
        from ddgs import DDGS
    except ImportError:
        raise WebSearchError(
            "web search is unavailable: the ddgs package is not installed"
        ) from None

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["raw"] = DDGS(timeout=max(1, int(timeout))).text(query, max_results=max_results)
        except BaseException as e:  # noqa: BLE001  (reported to the caller below)
            box["err"] = e

    t = threading.Thread(target=run, name="stepvox-web-search", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise WebSearchError(f"web search timed out after {timeout:g} seconds")
    if "err" in box:
        err = box["err"]
        if "no results found" in str(err).lower():
            return []
        raise _classify(err, timeout)
    out: list[WebResult] = []
    seen: set[str] = set()
    for r in box.get("raw") or []:
        url = str(r.get("href") or r.get("url") or "").strip()
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        out.append(
            WebResult(
                title=clean_text(r.get("title")) or url,
                url=url,
                snippet=clean_text(r.get("body") or r.get("snippet")),
            )
        )
        if len(out) >= max_results:
            break
    return out
