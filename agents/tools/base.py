"""What every tool module shares: the routing metadata keys a langchain tool carries, the
builder for the standard tools, and small helpers for their spoken sentences.

A tool tells a router without a language model what it needs in `tool.metadata`:

    examples    phrasings that should reach the tool (matched by meaning)
    cues        words that show up when people ask for it: a bonus when said, a penalty when not
    parse       (text, previous call or None) -> arguments, or None when they are not in the text
    say         (parsed JSON result or raw text, arguments) -> one or two spoken sentences
    say_error   (error message, arguments) -> one spoken sentence
    explicit    (text) -> True when the request names the tool outright, whatever the topic;
                a regular expression (or a list of them) also works
    extractive  True: the result holds passages, answered by quoting the best sentence
    fallback    the tool to try when this one's extractive answer is unsure
    lookup      order (0 first) among the tools an information question that matches
                nothing goes to
    clarify     what to ask when the tool fits but its arguments are not in the request
    approval    True: a person approves each call before it runs (the turn pauses on a
                LangGraph interrupt until `Assistant.resume`)

`agents.tools.tool_specs` reads them into `model.policy.ToolSpec`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from langchain_core.tools import BaseTool, StructuredTool

META_KEYS = (
    "examples", "cues", "parse", "say", "say_error", "explicit", "extractive", "fallback",
    "lookup", "clarify", "approval",
)  # fmt: skip


def to_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def standard_tool(func: Callable[..., Any], name: str, description: str, **metadata: Any) -> BaseTool:
    """A langchain tool whose failures (ToolException) become error results, carrying its
    routing metadata."""
    unknown = set(metadata) - set(META_KEYS)
    if unknown:
        raise ValueError(f"unknown tool metadata: {sorted(unknown)}")
    return StructuredTool.from_function(
        func=func,
        name=name,
        description=description,
        handle_tool_error=lambda e: str(e),
        metadata=metadata,
    )


def error_sayer(activity: str) -> Callable[[str, dict[str, Any]], str]:
    """say_error for a tool: 'Sorry, I couldn't <activity>: <reason>.'"""

    def say_error(message: str, args: dict[str, Any]) -> str:
        return f"Sorry, I couldn't {activity}: {message.rstrip('.')[:160]}."

    return say_error


def regex_matcher(*patterns: str) -> Callable[[str], bool]:
    rx = [re.compile(p, re.I) for p in patterns]
    return lambda text: any(r.search(text) for r in rx)


T = TypeVar("T")


class Lazy(Generic[T]):
    """A long-lived object (a corpus store, a voice library) given by the caller, or opened
    once on first use and closed by whoever owns the tool set."""

    def __init__(self, value: T | None = None, opener: Callable[[], T] | None = None) -> None:
        if value is None and opener is None:
            raise ValueError("give a value or an opener")
        self._value = value
        self._opener = opener
        self._owned = False
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    assert self._opener is not None
                    self._value = self._opener()
                    self._owned = True
        return self._value

    @property
    def opened(self) -> bool:
        return self._value is not None

    def close(self) -> None:
        """Close it if this object opened it (a value given by the caller stays open)."""
        with self._lock:
            if self._owned and self._value is not None:
                close = getattr(self._value, "close", None)
                if close is not None:
                    close()
                self._value = None
                self._owned = False
