"""Reading a conversation straight from its SQLite checkpoint, as the next turn would load it,
and the checks every stored conversation must pass (whole turns only)."""

from __future__ import annotations

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
