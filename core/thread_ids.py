"""The one rule for conversation (thread) ids, shared by the CLI, the server and `agents`.

Ids are keys in the checkpoint database and name the thread's recordings directory, so they
are 1-128 characters of letters, digits, '_', '.', '@' and '-', starting with a letter, digit
or '_' (no path separators, no hidden names, no control characters).
"""

from __future__ import annotations

import re
from typing import Any

MAX_THREAD_ID = 128
THREAD_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")


def thread_id_problem(thread_id: Any) -> str | None:
    """What is wrong with a thread id (one short phrase), or None when it is valid."""
    if not isinstance(thread_id, str) or not thread_id:
        return "empty"
    if len(thread_id) > MAX_THREAD_ID:
        return f"too long ({len(thread_id)} characters, at most {MAX_THREAD_ID})"
    if not THREAD_ID.fullmatch(thread_id):
        return "use letters, digits, '_', '.', '@' and '-', starting with a letter, digit or '_'"
    return None


def shown(value: Any, limit: int = 40) -> str:
    """A user's value quoted on one line (control characters escaped, long values cut)."""
    text = value if isinstance(value, str) else str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")
