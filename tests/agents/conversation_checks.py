"""Reading a conversation straight from its SQLite checkpoint, as the next turn would load it,
the checks every stored conversation must pass (whole turns only), digests of a home's stored
data, and a helper that fills a home with real turns."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.graph import build_graph
from agents.messages import from_langchain
from model.messages import AudioPart


def stored_messages(home: Path, thread: str) -> list[Any]:
    """The thread's messages as the graph loads them from conversations.sqlite (no repair)."""
    conn = sqlite3.connect(Path(home) / "conversations.sqlite", check_same_thread=False)
    try:
        graph = build_graph(policy=None, tools=[], checkpointer=SqliteSaver(conn))  # type: ignore[arg-type]
        snap = graph.get_state({"configurable": {"thread_id": thread}})
        return list((snap.values or {}).get("messages", []))
    finally:
        conn.close()


def label(m: Any) -> str:
    return from_langchain(m).text


def whole_turn_problems(messages: list[Any]) -> list[str]:
    """Why `messages` are not a sequence of whole turns (empty when they are)."""
    problems = []
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    for i, m in enumerate(messages):
        if isinstance(m, AIMessage):
            problems += [f"{i}: tool call {c['id']} has no result" for c in m.tool_calls
                         if c["id"] not in answered]
        if isinstance(m, HumanMessage):
            msg = from_langchain(m)
            if not msg.text.strip() and not msg.parts_of(AudioPart):
                problems.append(f"{i}: empty user message")
            if i > 0 and not _ends_turn(messages[i - 1]):
                problems.append(f"{i}: user message before the previous turn's reply")
    if messages and not _ends_turn(messages[-1]):
        problems.append(f"{len(messages) - 1}: the last turn has no reply")
    if messages and not isinstance(messages[0], HumanMessage):
        problems.append("0: the conversation does not start with a user message")
    return problems


def _ends_turn(m: Any) -> bool:
    return isinstance(m, AIMessage) and not m.tool_calls


def rows_digest(home: Path) -> str:
    """A digest of every checkpoint row of every conversation."""
    conn = sqlite3.connect(Path(home) / "conversations.sqlite")
    try:
        h = hashlib.sha256()
        for table in ("checkpoints", "writes"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4"):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        conn.close()


def store_digest(home: Path) -> str:
    """The conversations' rows and every other stored file by content (SQLite files by their
    rows only: their -wal/-shm come and go as connections open and close)."""
    h = hashlib.sha256(rows_digest(home).encode())
    for f in sorted(Path(home).rglob("*")):
        if f.is_file() and ".sqlite" not in f.name and "locks" not in f.parts:
            h.update(f"{f.relative_to(home)}:{hashlib.sha256(f.read_bytes()).hexdigest()}".encode())
    return h.hexdigest()


def seed(home: Path, turns: list[tuple[str, str | Path]]) -> None:
    """Run real turns (remote policy on a scripted loopback server that calls a tool):
    (thread, text) typed, (thread, wav path) spoken."""
    import soundfile as sf

    from agents import Assistant
    from model.remote import RemotePolicy
    from tests.agents.scripted_remote import ScriptedRemote

    server = ScriptedRemote("tool")
    a = Assistant(RemotePolicy(base_url=server.url), home, tool_timeout_s=3.0)
    try:
        for thread, what in turns:
            if isinstance(what, Path):
                samples, rate = sf.read(what, dtype="float32")
                a.respond(samples, rate, thread_id=thread)
            else:
                a.respond(text=what, thread_id=thread)
    finally:
        a.close()
        server.close()
