"""A developer's own tools for the CLI and the server: `STEPVOX_TOOLS=pkg.module:name,...`.

Each entry names a langchain tool, a plain function (made a tool from its signature and
docstring), a list of either, or a function without parameters returning one of those.
The module is imported from the current directory or the Python path (`PYTHONPATH`), as
`uvicorn module:app` does, so the same tool a developer
gives `Assistant(extra_tools=[...])` in Python reaches `stepvox ask`, `serve` and
`threads approve` — which must be able to run a paused call to it.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool


class ToolPluginError(ValueError):
    """A `STEPVOX_TOOLS` entry that does not name a tool (one line); bad input."""

    exit_code = 2


def _as_tools(obj: Any, entry: str) -> list[BaseTool]:
    if isinstance(obj, BaseTool):
        return [obj]
    if isinstance(obj, list | tuple):
        return [t for o in obj for t in _as_tools(o, entry)]
    if callable(obj):
        if not inspect.signature(obj).parameters and not (obj.__doc__ or "").strip():
            return _as_tools(obj(), entry)  # a factory
        if not (obj.__doc__ or "").strip():
            raise ToolPluginError(f"tool {entry}: a function needs a docstring (its description)")
        return [StructuredTool.from_function(obj, handle_tool_error=lambda e: str(e))]
    raise ToolPluginError(f"tool {entry}: {type(obj).__name__} is not a tool, a function or a list")


def load_tools(entries: list[str]) -> list[BaseTool]:
    """The tools the entries name ("module:attribute"), in order."""
    if entries and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a module next to where the command runs
    tools: list[BaseTool] = []
    for entry in entries:
        module, sep, attr = entry.partition(":")
        if " " in entry.strip():
            raise ToolPluginError(f"tool {entry}: entries are separated by commas, not spaces")
        if not sep or not module or not attr:
            raise ToolPluginError(f"tool {entry}: expected module:name")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except ImportError as e:
            raise ToolPluginError(f"tool {entry}: cannot import {module} ({e}; is its directory "
                                  "the current one or on PYTHONPATH?)") from None
        except AttributeError:
            raise ToolPluginError(f"tool {entry}: {module} has no {attr}") from None
        found = _as_tools(obj, entry)
        if not found:
            raise ToolPluginError(f"tool {entry}: names no tool (an empty list)")
        tools += found
    return tools
