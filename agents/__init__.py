"""stepvox.agents: the LangGraph graph, its state, nodes, tools and the `Assistant` facade.

Names are imported on first use, so `import agents.tools` does not build the graph."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Assistant": "agents.assistant",
    "AgentState": "agents.graph",
    "TurnContext": "agents.graph",
    "build_graph": "agents.graph",
    "tool_specs": "agents.tools",
    "default_tools": "agents.tools",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
