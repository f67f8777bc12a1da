"""A langchain-core BaseRetriever over a CorpusStore."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from retrieval.store import CorpusStore
from retrieval.types import Passage


def passage_to_document(p: Passage) -> Document:
    """A Document whose page_content is the passage text and metadata the rest."""
    meta = p.model_dump(exclude={"text"})
    return Document(page_content=p.text, metadata=meta)


class KnowledgeRetriever(BaseRetriever):
    """Documents from `store.search(query, top_k)`; metadata: source, title, section,
    score, relevance, corpus, chunk_id, start, end. The text is untrusted data."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any  # CorpusStore (Any keeps pydantic from validating the class)
    top_k: int = 5
    mode: str = "hybrid"
    corpus: str | None = None
    min_relevance: float | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        store: CorpusStore = self.store
        passages = store.search(query, top_k=self.top_k, mode=self.mode, corpus=self.corpus)
        if self.min_relevance is not None:
            passages = [p for p in passages if p.relevance >= self.min_relevance]
        return [passage_to_document(p) for p in passages]
