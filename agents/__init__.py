"""stepvox.agents: the LangGraph graph, its state, nodes, tools and the `Assistant` facade."""

from agents.approval import make_approve
from agents.assistant import Assistant
from agents.escalation import make_escalate
from agents.graph import build_graph, graph_builder
from agents.nodes import listen, make_respond, make_route, tool_events
from agents.state import AgentState, TurnContext
from agents.threads import ThreadBusy, ThreadError, ThreadInfo, ThreadStore
from agents.tools import default_tools, tool_specs

__all__ = [
    "Assistant", "AgentState", "TurnContext", "build_graph", "graph_builder", "listen",
    "make_respond", "make_route", "make_approve", "make_escalate", "tool_events", "default_tools", "tool_specs", "ThreadStore",
    "ThreadInfo", "ThreadBusy", "ThreadError",
]
