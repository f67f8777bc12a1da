"""Text corpora: ingest, chunk, embed, index, search (dense + BM25, fused); web search.

Everything this package returns (passages, web results) is untrusted data: callers embed
it in prompts as quoted material (see `sanitize_passage_text`), never as instructions.
"""

from retrieval.retriever import KnowledgeRetriever, passage_to_document
from retrieval.sanitize import sanitize_passage_text
from retrieval.store import CorpusStore, PendingDocument
from retrieval.types import IngestReport, Passage, WebResult
from retrieval.websearch import WebSearchError, web_search

__all__ = [
    "CorpusStore",
    "IngestReport",
    "KnowledgeRetriever",
    "Passage",
    "PendingDocument",
    "WebResult",
    "WebSearchError",
    "passage_to_document",
    "sanitize_passage_text",
    "web_search",
]
