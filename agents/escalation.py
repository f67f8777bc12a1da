"""Escalation to a person: when the assistant keeps ending its turns unsure.

A turn's reply is marked unsure (`response_metadata["unsure"]`) when its policy said so
(`Done.info["unsure"]`: a refusal, or passages that did not answer well). After
`escalate_after` such replies in a row (`STEPVOX_ESCALATE_AFTER`; 0 never), the `escalate`
node says it is asking a person and calls the `handoff_to_human` tool itself, which pauses
the conversation until an operator answers (agents.tools.handoff). A user who asks for a
person reaches the same tool through the policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

from agents.speaking import speak_text
from agents.state import AgentState, active_voice
from model.events import TextDelta, ToolCall
from model.policy import Policy

HANDOFF = "handoff_to_human"
ESCALATE_SAY = "I'm not getting this right, so I'm asking a person to help."


def unsure_streak(messages: Sequence[AnyMessage]) -> int:
    """How many turns in a row ended with an unsure reply (since the last handoff)."""
    n = 0
    for m in reversed(messages):
        if isinstance(m, ToolMessage) and m.name == HANDOFF:
            break
        if isinstance(m, AIMessage):
            if any(c["name"] == HANDOFF for c in m.tool_calls):
                break
            if m.tool_calls:
                continue
            if not m.response_metadata.get("unsure"):
                break
            n += 1
    return n


def make_escalate(policy: Policy, emit_of: Callable[[], Callable[[Any], None]], after: int):
    """The `escalate` node: say so, then call `handoff_to_human` (the tools node runs it)."""

    def escalate(state: AgentState) -> dict[str, Any]:
        emit = emit_of()
        call = ToolCall(name=HANDOFF, arguments={
            "reason": f"{after} answers in a row the assistant was not sure of"})
        emit(TextDelta(text=ESCALATE_SAY))
        speak_text(policy.speaker().segment(active_voice(state)), ESCALATE_SAY, emit)
        emit(call)
        ai = AIMessage(content=ESCALATE_SAY, id=f"ai-{uuid.uuid4().hex[:12]}", tool_calls=[
            {"id": call.id, "name": call.name, "args": call.arguments, "type": "tool_call"}])
        return {"messages": [ai]}

    return escalate
