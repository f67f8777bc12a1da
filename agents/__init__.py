"""stepvox.agents: the LangGraph graph, its state, nodes, tools and the `Assistant` facade."""

from agents.assistant import Assistant
from agents.graph import AgentState, TurnContext, build_graph, tool_specs
from agents.tools import default_tools

__all__ = ["Assistant", "AgentState", "TurnContext", "build_graph", "tool_specs", "default_tools"]
