"""A person in the loop: approval of tool calls, and what a paused conversation waits for.

A tool marked `metadata["approval"] = True` never runs unasked. When the policy calls one,
the `approve` node pauses the turn with a LangGraph `interrupt` whose value lists the calls
(`Waiting(kind="approval")`); the checkpoint keeps the pause across restarts. The person's
decision comes back through `Command(resume=decision)` (`Assistant.resume`); decisions land
in the state (`approvals`), and the tools node runs an approved call and answers a denied
one (or a gated call nobody decided, e.g. in a graph compiled without this node) with an
error result that the policy speaks.

A decision is `True`/`False`, "approve"/"deny", `{"approved": bool, "reason": str}`, or a
mapping from call id to any of those. A spoken "yes" or "no" while the conversation waits
is a decision too (`spoken_decision`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.types import Interrupt, interrupt

from agents.state import AgentState
from agents.tools.plugins import ToolPluginError
from model.events import ToolCall, Waiting
from model.policy import ToolSpec

INTERRUPT = "__interrupt__"  # the channel LangGraph keeps a pending interrupt in (private there)
DENIED = "not approved"
UNASKED = "not run: it needs a person's approval, and none was asked"

_YES = re.compile(
    r"^\s*(yes|yeah|yep|yup|sure|ok(ay)?|go ahead|do it|approved?|confirm(ed)?|please do|"
    r"of course|alright|all right)\b", re.I)  # fmt: skip
_NO = re.compile(
    r"^\s*(no|nope|nah|don'?t|do not|cancel|stop|deny|denied|never ?mind|not now)\b", re.I)


class DecisionError(ValueError):
    """A decision that is not one (one line); bad input."""

    exit_code = 2


def needing_approval(tools: list[BaseTool], names: Iterable[str]) -> list[BaseTool]:
    """The tools, those named marked as needing approval (copies: the given tools are not
    changed). ToolPluginError (one line) for a name no tool has."""
    names = set(names)
    unknown = names - {t.name for t in tools}
    if unknown:
        raise ToolPluginError(f"approve_tools: no tool named {sorted(unknown)[0]!r} "
                         f"(tools: {', '.join(t.name for t in tools)})")
    return [t.model_copy(update={"metadata": {**(t.metadata or {}), "approval": True}})
            if t.name in names else t for t in tools]


def gated_names(specs: Iterable[ToolSpec]) -> set[str]:
    return {s.name for s in specs if s.approval}


def pending_calls(state: AgentState, gated: set[str]) -> list[dict[str, Any]]:
    """The newest generation's calls that need approval and have no decision yet."""
    msgs = state.get("messages") or []
    last = msgs[-1] if msgs else None
    if not isinstance(last, AIMessage):
        return []
    done = state.get("approvals") or {}
    return [c for c in last.tool_calls if c["name"] in gated and c["id"] not in done]


def _one(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"approved": value, "reason": None}
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("approve", "approved", "yes", "y"):
            return {"approved": True, "reason": None}
        if word in ("deny", "denied", "no", "n"):
            return {"approved": False, "reason": None}
        raise DecisionError(f"decision {value[:40]!r}: expected approve or deny")
    if isinstance(value, dict) and isinstance(value.get("approved"), bool):
        reason = value.get("reason")
        return {"approved": value["approved"], "reason": str(reason)[:200] if reason else None}
    raise DecisionError(f"decision {str(value)[:40]!r}: expected approve or deny")


def decisions(value: Any, calls: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Normalize a resume value into {call id: {"approved": bool, "reason": str | None}}."""
    ids = [c["id"] for c in calls]
    if isinstance(value, dict) and value and set(value) <= set(ids) and "approved" not in value:
        missing = [i for i in ids if i not in value]
        if missing:
            raise DecisionError(f"decision: no answer for call {missing[0]}")
        return {i: _one(value[i]) for i in ids}
    one = _one(value)
    return {i: dict(one) for i in ids}


def make_approve(specs: Iterable[ToolSpec]) -> Callable[[AgentState], dict[str, Any]]:
    """The `approve` node: pause for the calls that need a person, then record the answers."""
    gated = gated_names(specs)

    def approve(state: AgentState) -> dict[str, Any]:
        calls = pending_calls(state, gated)
        if not calls:
            return {}
        waiting = Waiting(kind="approval", calls=[
            ToolCall(id=c["id"], name=c["name"], arguments=c["args"]) for c in calls])
        return {"approvals": decisions(interrupt(waiting.model_dump(mode="json")), calls)}

    return approve


def refusal(call: dict[str, Any], state: Any) -> ToolMessage | None:
    """The error result for a gated call that must not run (denied, or never asked)."""
    approvals = (state.get("approvals") or {}) if isinstance(state, dict) else {}
    decision = approvals.get(call["id"])
    if decision and decision.get("approved"):
        return None
    text = UNASKED if decision is None else DENIED
    if decision and decision.get("reason"):
        text += f" ({decision['reason']})"
    return ToolMessage(content=text, tool_call_id=call["id"], name=call["name"], status="error")


def waiting_of(interrupts: Iterable[Interrupt]) -> Waiting | None:
    """What a paused thread waits for (its first stepvox interrupt), or None."""
    for it in interrupts:
        value = it.value
        if isinstance(value, dict) and value.get("type") == "waiting":
            return Waiting.model_validate(value)
    return None


def waiting_in(checkpointer: Any, thread_id: str) -> Waiting | None:
    """What a thread waits for, read from its newest checkpoint alone (no graph, no model:
    for listing conversations)."""
    tup = checkpointer.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    if tup is None:
        return None
    found: list[Any] = []
    for _task, channel, value in tup.pending_writes or ():
        if channel == INTERRUPT:
            found += list(value) if isinstance(value, list | tuple) else [value]
    return waiting_of(found)


def spoken_decision(text: str) -> bool | None:
    """A "yes"/"no" said while an approval is pending; None when it is neither."""
    if _NO.search(text or ""):
        return False
    if _YES.search(text or ""):
        return True
    return None


def _call_words(call: ToolCall) -> str:
    """'send email (to: Ada)'."""
    name = call.name.replace("_", " ")
    args = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in call.arguments.items()
                     if v not in (None, "", [], {}))
    return f"{name} ({args[:120]})" if args else name


def waiting_sentence(w: Waiting) -> str:
    """What the assistant says when a turn pauses (and when asked again while it waits)."""
    if w.kind == "handoff":
        return "I've asked a person to help with this. They'll answer here."
    what = " and ".join(_call_words(c) for c in w.calls) or "that"
    return f"Before I use {what}, I need your approval. Say yes or no."
