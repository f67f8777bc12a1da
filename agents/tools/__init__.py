"""The standard tools, one module each, as langchain-core tools.

Each module holds its tool's function and description and what the embedded router needs
to know about it (example phrasings, cue words, an argument parser that also reads
follow-ups, and how its result and its errors are said aloud), carried on the tool as
`tool.metadata` (keys in `agents.tools.base`). A developer's tool carries the same keys in
the same place. Each tool returns JSON text; failures raise ToolException with a one-line
reason, which the tools node turns into an error result that the policy speaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agents.tools import (
    audio_search,
    calculator,
    get_current_time,
    get_weather,
    handoff,
    memory,
    retrieve_knowledge,
    web_search,
)
from agents.tools.audio_search import voice_spec_from_attrs
from agents.tools.base import META_KEYS, Lazy, regex_matcher
from model.policy import ToolSpec
from retrieval import CorpusStore
from voices import VoiceLibrary


class ToolSet(list):
    """A list of tools that also closes the stores it opened itself (never the ones given)."""

    def __init__(self, tools: Iterable[BaseTool], stores: Iterable[Lazy[Any]] = ()) -> None:
        super().__init__(tools)
        self._stores = list(stores)

    def close(self) -> None:
        for s in self._stores:
            s.close()


def default_tools(
    home: Path,
    timeout: float = 8.0,
    *,
    corpus: CorpusStore | None = None,
    voices: VoiceLibrary | None = None,
) -> ToolSet:
    """The standard tool set, bound to a STEPVOX_HOME. The corpus store and the voice library
    are the ones given (their owner closes them), or each is opened once, on first use, for
    this tool set (`ToolSet.close` closes those)."""
    home = Path(home)
    corpus_ref = Lazy(corpus, opener=lambda: retrieve_knowledge.open_corpus(home / "corpora"))
    voices_ref = Lazy(voices, opener=lambda: audio_search.open_library(home / "voices"))
    tools = [
        get_current_time.make_tool(),
        calculator.make_tool(),
        web_search.make_tool(timeout),
        get_weather.make_tool(timeout),
        retrieve_knowledge.make_tool(corpus_ref),
        audio_search.make_tool(voices_ref),
        *memory.make_tools(),  # long-term memory: the store the graph is compiled with
        handoff.make_tool(),
    ]
    return ToolSet(tools, [corpus_ref, voices_ref])


def _explicit(value: Any):
    """A developer may give regex(es) instead of a function."""
    if value is None or callable(value):
        return value
    return regex_matcher(*([value] if isinstance(value, str) else value))


def tool_specs(tools: Iterable[BaseTool]) -> list[ToolSpec]:
    """What a policy sees of each tool: its JSON schema, plus the routing metadata."""
    specs = []
    for t in tools:
        fn = convert_to_openai_tool(t)["function"]
        meta = {k: v for k, v in (t.metadata or {}).items() if k in META_KEYS and v is not None}
        if "explicit" in meta:
            meta["explicit"] = _explicit(meta["explicit"])
        for key in ("examples", "cues"):
            if key in meta:
                meta[key] = [meta[key]] if isinstance(meta[key], str) else list(meta[key])
        specs.append(
            ToolSpec(
                name=fn["name"],
                description=fn.get("description", ""),
                parameters=fn.get("parameters", {}),
                **meta,
            )
        )
    return specs


__all__ = ["ToolSet", "default_tools", "tool_specs", "voice_spec_from_attrs"]
