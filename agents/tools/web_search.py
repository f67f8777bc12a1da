"""web_search: DuckDuckGo results (ddgs, with a timeout) as passages the policy quotes from;
also where an information question goes when the documents are not sure."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.tools import BaseTool, ToolException

from agents.tools.base import error_sayer, regex_matcher, standard_tool, to_json
from model.policy import PreviousCall
from retrieval import WebSearchError
from retrieval import web_search as search

NAME = "web_search"
DESCRIPTION = "Search the web for current information."
EXAMPLES = [
    "search the web for the latest news", "look up who won the game last night",
    "google the best pizza places", "find information online about electric cars",
    "what's in the news today", "search for reviews of the new phone",
]  # fmt: skip
CUES = ["search", "look up", "lookup", "google", "internet", "web", "online", "news", "latest"]
# an explicit command names the tool whatever the topic ("search online for hiking trails")
EXPLICIT = (
    r"^(?:please\s+|can you\s+|could you\s+)*(?:search|google|look up|browse)\b",
    r"\b(?:on|in|from) the (?:web|internet)\b|\bonline\b",
)


def make_web_search(timeout: float = 8.0):
    def web_search(query: str) -> str:
        """Search the web (DuckDuckGo) and return cleaned results with their URLs."""
        try:
            results = search(query, max_results=5, timeout=timeout)
        except WebSearchError as e:
            raise ToolException(str(e)) from None
        return to_json(
            {"query": query, "results": [r.model_dump() if hasattr(r, "model_dump") else dict(r) for r in results]}
        )

    return web_search


_SEARCH_PREFIX = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+|would you\s+)*"
    r"(?:search(?: the web| the internet| online)?(?: for)?|look up|google|find(?: me)?(?: information)?(?: about| on)?|"
    r"browse(?: the web)? for)\s+",
    re.I,
)


def search_query(text: str) -> str:
    """'Search the web for the latest news about Mars' -> 'the latest news about Mars'."""
    q = text.strip().rstrip("?.!")
    q = _SEARCH_PREFIX.sub("", q)
    q = re.sub(r"\s+(?:on|in) the (?:web|internet)$|\s+online$", "", q, flags=re.I)
    return q.strip() or text.strip()


def parse(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    return {"query": search_query(text)}


def make_tool(timeout: float = 8.0) -> BaseTool:
    return standard_tool(
        make_web_search(timeout), NAME, DESCRIPTION,
        examples=EXAMPLES, cues=CUES, parse=parse, say_error=error_sayer("search the web"),
        explicit=regex_matcher(*EXPLICIT), extractive=True, lookup=1,
    )  # fmt: skip
