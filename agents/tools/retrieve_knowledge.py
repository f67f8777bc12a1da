"""retrieve_knowledge: passages from the user's own documents (the corpora under
$STEPVOX_HOME/corpora). The first place an information question goes; when no passage
answers it well enough, the policy tries the web."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from agents.tools.base import Lazy, error_sayer, standard_tool, to_json
from model.policy import PreviousCall
from retrieval import CorpusStore, sanitize_passage_text

NAME = "retrieve_knowledge"
DESCRIPTION = "Look up facts in the user's own documents."
EXAMPLES = [
    "what does the documentation say about", "tell me about the project", "who invented it",
    "explain how this works", "what is the policy on", "according to my notes what is",
    "when was it founded", "how do I configure it",
]  # fmt: skip


def open_corpus(corpora_dir: Path) -> CorpusStore:
    return CorpusStore(corpora_dir)


def make_retrieve_knowledge(store_ref: Lazy[CorpusStore], top_k: int = 4):
    """The tool function over one store (given open, or opened on first use)."""

    def retrieve_knowledge(query: str) -> str:
        """Search the user's documents (ingested corpora) for passages about the query."""
        store = store_ref.get()
        if store.is_empty():
            return to_json({"query": query, "passages": [], "note": "no documents have been added"})
        hits = store.search(query, top_k=top_k)
        return to_json(
            {
                "query": query,
                "passages": [
                    {
                        "source": h.source,
                        "title": h.title,
                        "section": h.section,
                        "text": sanitize_passage_text(h.text),
                        "score": round(float(h.score), 4),
                        "relevance": round(float(h.relevance), 4),
                    }
                    for h in hits
                ],
            }
        )

    return retrieve_knowledge


def parse(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    return {"query": text.strip().rstrip("?.!")}


def make_tool(corpus: Lazy[CorpusStore], top_k: int = 4) -> BaseTool:
    return standard_tool(
        make_retrieve_knowledge(corpus, top_k), NAME, DESCRIPTION,
        examples=EXAMPLES, parse=parse, say_error=error_sayer("search your documents"),
        extractive=True, fallback="web_search", lookup=0,
    )  # fmt: skip
