"""Whole turns only: what a stored conversation may hold, and how one that does not is healed.

A turn is a user message, then the assistant's messages: tool calls with one result each,
and a final reply without tool calls. The graph writes a turn's checkpoint once, when the
turn ends (`durability="exit"`), and a turn that fails is dropped, so a conversation holds
only whole turns. Versions before that checkpointed every step, and a process killed
midway left half a turn: a user message without a reply, tool calls without results, an
empty user message. `whole_turns` heals such a conversation when it is loaded:

- an empty user message (no text, no recording) is dropped with its turn;
- a turn that never reached its final reply is dropped (it was never acknowledged), except
  that a turn which did reply but lost a tool result keeps its reply and gets an error
  result for the call ("not run: the turn was interrupted").
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agents.messages import from_langchain
from model.messages import AudioPart

INTERRUPTED_RESULT = "not run: the turn was interrupted"


def _empty_user(m: Any) -> bool:
    msg = from_langchain(m)
    return not msg.text.strip() and not msg.parts_of(AudioPart)


def _ends_turn(m: Any) -> bool:
    return isinstance(m, AIMessage) and not m.tool_calls


def _split(messages: list[Any]) -> tuple[list[Any], list[list[Any]]]:
    """(what comes before the first user message, the turns)."""
    head: list[Any] = []
    turns: list[list[Any]] = []
    for m in messages:
        if isinstance(m, HumanMessage):
            turns.append([m])
        elif turns:
            turns[-1].append(m)
        else:
            head.append(m)
    return head, turns


def _answer_calls(turn: list[Any]) -> list[Any]:
    """The turn with an error result for each tool call that has none (after the call's
    own results, before whatever follows them)."""
    answered = {m.tool_call_id for m in turn if isinstance(m, ToolMessage)}
    out: list[Any] = []
    missing: list[dict[str, Any]] = []
    for m in [*turn, None]:
        if missing and not isinstance(m, ToolMessage):
            out += [ToolMessage(content=INTERRUPTED_RESULT, tool_call_id=c["id"], name=c["name"],
                                status="error") for c in missing]
            missing = []
        if m is None:
            break
        out.append(m)
        if isinstance(m, AIMessage):
            missing = [c for c in m.tool_calls if c["id"] not in answered]
    return out


def whole_turns(messages: list[Any]) -> list[Any] | None:
    """The conversation healed to whole turns, or None when it already is whole."""
    head, turns = _split(list(messages))
    kept: list[Any] = list(head)
    for turn in turns:
        if _empty_user(turn[0]) or not _ends_turn(turn[-1]):
            continue
        kept += _answer_calls(turn)
    if len(kept) == len(messages) and all(a is b for a, b in zip(kept, messages, strict=True)):
        return None
    return kept
