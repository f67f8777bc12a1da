"""What the clients of OpenAI-compatible servers share: the base-URL form, a short liveness
probe (`stepvox doctor`), and what went wrong on the way to a server, in a few words.

Only httpx here (no model stack), so `doctor` can ask a server whether it answers in well
under a second of imports.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import httpx


def api_base(url: str) -> str:
    """The API base an OpenAI client appends `/chat/completions` and `/models` to:
    `http://host:11434` -> `http://host:11434/v1`; `.../v1/chat/completions` -> `.../v1`;
    any other path (e.g. `https://host/api/v1`) is kept."""
    u = url.strip().rstrip("/")
    u = u.removesuffix("/chat/completions")
    if not urlsplit(u).path.strip("/"):
        u += "/v1"
    return u


def _kinds(e: BaseException) -> set[str]:
    """The class names of an httpx error (or of httpx2's, which the openai client uses: the
    same classes under another module name)."""
    mro = type(e).__mro__
    if not any(c.__module__.split(".")[0] in ("httpx", "httpx2") for c in mro):
        return set()
    return {c.__name__ for c in mro}


def is_http_error(e: BaseException) -> bool:
    return "HTTPError" in _kinds(e)


def http_problem(e: BaseException, timeout_s: float | None) -> str:
    """What went wrong on the way to the server, in a few words (an httpx or httpx2 error)."""
    kinds = _kinds(e)
    if "TimeoutException" in kinds:
        return f"no answer within {timeout_s:g} s" if timeout_s else "no answer in time"
    if "RemoteProtocolError" in kinds:
        return f"the connection broke off ({e})"
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(e)) or type(e).__name__
    if "ConnectError" in kinds:
        return text[0].lower() + text[1:]
    return f"{type(e).__name__}: {text}"


def one_line(text: str, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


def list_models(base: str, api_key: str | None = None, timeout_s: float = 3.0) -> list[str]:
    """The model ids `GET {base}/models` lists. Raises `httpx.HTTPError` when the server
    cannot be reached or answers with an error, `ValueError` when the answer is not a list."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    r = httpx.get(f"{base}/models", headers=headers, timeout=timeout_s)
    r.raise_for_status()
    try:
        data: Any = r.json()
        return [str(m["id"]) for m in data["data"]]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"GET {base}/models: not an OpenAI model list ({one_line(r.text, 80)})") from None


def probe(url: str, model: str | None = None, api_key: str | None = None, timeout_s: float = 3.0) -> str:
    """One line saying whether an OpenAI-compatible server answers (`GET /models`, at most
    `timeout_s`), and whether it serves `model`."""
    base = api_base(url)
    t0 = time.perf_counter()
    try:
        models = list_models(base, api_key, timeout_s)
    except httpx.HTTPStatusError as e:
        return f"NOT ANSWERING: HTTP {e.response.status_code} {e.response.reason_phrase} from {base}/models"
    except httpx.HTTPError as e:
        return f"NOT ANSWERING: {http_problem(e, timeout_s)}"
    except ValueError as e:
        return f"NOT ANSWERING: {e}"
    ms = (time.perf_counter() - t0) * 1000
    shown = ", ".join(models[:5]) + (" ..." if len(models) > 5 else "")
    if model and model not in models:
        return f"answers ({ms:.0f} ms), but does not list model {model!r} (it lists: {shown or 'none'})"
    return f"answers ({ms:.0f} ms); model {model or (models[0] if models else '?')!r}"
