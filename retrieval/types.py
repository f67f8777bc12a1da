"""Data that crosses the retrieval package boundary (pydantic v2)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Passage(BaseModel):
    """One retrieved chunk. Its text is untrusted data, never instructions."""

    source: str  # absolute file path or URL
    title: str = ""
    section: str = ""
    text: str
    score: float = 0.0  # fused rank score (RRF, or the reranker's score), higher is better
    relevance: float = 0.0  # cosine similarity query <-> chunk, in [-1, 1]
    corpus: str = "default"
    chunk_id: int = -1
    start: int = 0  # character offsets into the document's extracted text
    end: int = 0


class IngestReport(BaseModel):
    """What `CorpusStore.add` did, file by file."""

    corpus: str = "default"
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped: list[tuple[str, str]] = Field(default_factory=list)  # (path, reason)
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0


class WebResult(BaseModel):
    """One web search hit, cleaned (no HTML, collapsed whitespace). Untrusted data."""

    title: str
    url: str
    snippet: str = ""
