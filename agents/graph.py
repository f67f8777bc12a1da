r"""The LangGraph state machine:

    listen -> respond -> ([approve] -> tools -> respond)* -> end
                      \-> escalate -> tools -> respond        (too many unsure answers)

`approve` pauses for a person when a call needs approval (agents.approval); `escalate` hands
the conversation to a person (agents.escalation). `build_graph(policy, tools, checkpointer=...)`
compiles it with the options given (checkpointer, store, interrupt_before/after, ...);
`graph_builder` returns the uncompiled `StateGraph` for a developer who adds nodes or
compiles it as a sub-graph of their own.

Every node streams `model.events` objects through LangGraph's custom stream: `Transcript`,
`TextDelta`, `AudioTokens`, `ToolCall`, `AudioChunk` (as soon as each is synthesized, while
the policy is still generating), `ToolResult`, `VoiceChanged`, `Timing` and `Done`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from agents.approval import make_approve
from agents.escalation import make_escalate
from agents.nodes import Transcriber, listen, make_respond, make_route, tool_events, writer
from agents.state import AgentState, TurnContext
from agents.tools import tool_specs
from model.policy import Policy


def graph_builder(
    policy: Policy,
    tools: list[BaseTool],
    *,
    transcriber: Transcriber | None = None,
    escalate_after: int = 0,
) -> StateGraph:
    """The uncompiled graph (add nodes or edges, then `.compile(...)`). `escalate_after`: hand
    off to a person after that many unsure replies in a row (0: never; needs the
    `handoff_to_human` tool in `tools`)."""
    specs = tool_specs(tools)
    g = StateGraph(AgentState, context_schema=TurnContext)
    g.add_node("listen", listen)
    g.add_node("respond", make_respond(policy, specs, transcriber))
    g.add_node("approve", make_approve(specs))
    g.add_node("escalate", make_escalate(policy, writer, escalate_after))
    g.add_node(
        "tools",
        ToolNode(tools, handle_tool_errors=lambda e: str(e), wrap_tool_call=tool_events),
    )
    g.add_edge(START, "listen")
    g.add_edge("listen", "respond")
    g.add_conditional_edges(
        "respond", make_route(specs, escalate_after),
        {"approve": "approve", "tools": "tools", "escalate": "escalate", END: END},
    )
    g.add_edge("approve", "tools")
    g.add_edge("escalate", "tools")
    g.add_edge("tools", "respond")
    return g


def build_graph(
    policy: Policy,
    tools: list[BaseTool],
    checkpointer: Any = None,
    *,
    store: Any = None,
    interrupt_before: list[str] | None = None,
    interrupt_after: list[str] | None = None,
    transcriber: Transcriber | None = None,
    escalate_after: int = 0,
    **compile_options: Any,
):
    """Compile the agent graph for a policy and a tool set (options as `StateGraph.compile`)."""
    g = graph_builder(policy, tools, transcriber=transcriber, escalate_after=escalate_after)
    return g.compile(checkpointer=checkpointer, store=store, interrupt_before=interrupt_before,
                     interrupt_after=interrupt_after, **compile_options)
