"""handoff_to_human: a person takes over when the user asks for one (or when the assistant
keeps ending unsure: the `escalate` node calls this tool itself).

The call pauses the conversation with a LangGraph `interrupt` (`Waiting(kind="handoff")`):
the checkpoint keeps it, across restarts, until an operator answers (`stepvox threads reply
ID "text"`, the web page, or `Assistant.resume(thread_id, "text")`). The answer is the tool's
result, and the policy says it, in the conversation's voice, in the resumed turn."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, ToolException
from langgraph.types import interrupt

from agents.tools.base import error_sayer, regex_matcher, standard_tool, to_json
from model.events import Waiting
from model.policy import PreviousCall

NAME = "handoff_to_human"
DESCRIPTION = "Hand the conversation to a human operator, who answers the user here."
EXAMPLES = [
    "I want to talk to a person", "can I speak to a human", "get me a real person",
    "connect me to an operator", "I need a human agent", "let me talk to someone real",
    "transfer me to a human", "is there a person I can talk to",
]  # fmt: skip
CUES = ["person", "human", "operator", "someone", "somebody", "agent", "representative", "real"]


def operator_answer(value: Any) -> str:
    """The operator's text from a resume value ("text" or {"reply": "text"})."""
    text = value.get("reply") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.strip():
        raise ToolException("the operator's answer was empty")
    return " ".join(text.split())[:2000]


def handoff_to_human(reason: str = "") -> str:
    """Ask a human operator to answer the user; waits (paused) until one does."""
    answer = interrupt(Waiting(kind="handoff", reason=reason[:300] or None).model_dump(mode="json"))
    return to_json({"operator": operator_answer(answer)})


_ASKS = regex_matcher(r"\b(" + "|".join(CUES) + r")s?\b")


def parse(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    """Only a request that names a person (never a follow-up of an earlier handoff)."""
    return {"reason": text.strip()[:300]} if _ASKS(text) else None


def say(result: Any, args: dict[str, Any]) -> str:
    if isinstance(result, dict) and result.get("operator"):
        return str(result["operator"])
    return "A person answered, but I couldn't read their answer."


def make_tool() -> BaseTool:
    return standard_tool(
        handoff_to_human, NAME, DESCRIPTION, examples=EXAMPLES, cues=CUES, parse=parse, say=say,
        say_error=error_sayer("reach a person"),
    )  # fmt: skip
