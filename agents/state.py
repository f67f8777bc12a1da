"""The graph's one state schema and the per-turn run context.

State (checkpointed, one thread per conversation): the messages (langchain-core, with our
typed parts), the active voice, the decisions a person made on tool calls that need approval,
and LangGraph's own `remaining_steps`. Nothing else: the
record of a turn (transcript, reply, tool calls, timings) is folded from the event stream
(`agents.record`), not kept as scratch in the checkpoint.

Per-turn runtime objects (the cancel token for barge-in, where recordings go) travel in the
run context (`TurnContext`), never in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps

from model.policy import CancelToken, VoiceSpec


def last_voice(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Several voice switches in one step (parallel tool calls): the last one wins."""
    return new


def merge_approvals(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    return {**(old or {}), **(new or {})}


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    voice: Annotated[dict[str, Any] | None, last_voice]  # VoiceSpec dump of the active voice
    # a person's decisions on tool calls that need approval, by call id (agents.approval)
    approvals: Annotated[dict[str, Any], merge_approvals]
    remaining_steps: RemainingSteps


@dataclass
class TurnContext:
    cancel: CancelToken | None = None
    audio_dir: str | None = None  # where trimmed recordings are kept


def turn_context(context: Any) -> TurnContext:
    """The run context as the nodes read it. In a developer's app where the stepvox graph is
    a sub-graph, the context is the app's own (any type, or None): its `cancel` and
    `audio_dir` are read where it has them (attributes or keys), and nothing else is asked
    of it."""
    if isinstance(context, TurnContext):
        return context
    if isinstance(context, Mapping):
        return TurnContext(cancel=context.get("cancel"), audio_dir=context.get("audio_dir"))
    return TurnContext(cancel=getattr(context, "cancel", None),
                       audio_dir=getattr(context, "audio_dir", None))


def active_voice(state: AgentState) -> VoiceSpec | None:
    v = state.get("voice")
    return VoiceSpec(**v) if v else None
