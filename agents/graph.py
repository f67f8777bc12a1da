"""The LangGraph state machine: listen -> respond -> (tools -> respond)* -> end.

`build_graph(policy, tools, checkpointer=...)` compiles it with the options given (checkpointer,
store, interrupts); `graph_builder` returns the uncompiled `StateGraph` for a developer who
adds nodes or compiles it as a sub-graph of their own.

Every node streams `model.events` objects through LangGraph's custom stream: `Transcript`,
`TextDelta`, `AudioTokens`, `ToolCall`, `AudioChunk` (as soon as each is synthesized, while
the policy is still generating), `ToolResult`, `VoiceChanged`, `Timing` and `Done`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from agents.nodes import Transcriber, listen, make_respond, route, tool_events
from agents.state import AgentState, TurnContext
from agents.tools import tool_specs
from model.policy import Policy


def graph_builder(
    policy: Policy, tools: list[BaseTool], *, transcriber: Transcriber | None = None
) -> StateGraph:
    """The uncompiled graph (add nodes or edges, then `.compile(...)`)."""
    g = StateGraph(AgentState, context_schema=TurnContext)
    g.add_node("listen", listen)
    g.add_node("respond", make_respond(policy, tool_specs(tools), transcriber))
    g.add_node(
        "tools",
        ToolNode(tools, handle_tool_errors=lambda e: str(e), wrap_tool_call=tool_events),
    )
    g.add_edge(START, "listen")
    g.add_edge("listen", "respond")
    g.add_conditional_edges("respond", route, {"tools": "tools", END: END})
    g.add_edge("tools", "respond")
    return g


def build_graph(
    policy: Policy,
    tools: list[BaseTool],
    checkpointer: Any = None,
    *,
    store: Any = None,
    transcriber: Transcriber | None = None,
    **compile_options: Any,
):
    """Compile the agent graph for a policy and a tool set."""
    g = graph_builder(policy, tools, transcriber=transcriber)
    return g.compile(checkpointer=checkpointer, store=store, **compile_options)
