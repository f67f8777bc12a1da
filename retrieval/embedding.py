"""Sentence-transformers text embeddings and the optional cross-encoder rerank for the corpus
index, through the project's shared loader (`core.text_embedding`): one loaded model per
(name, device) per process, whoever asks. `None` -> the offline MiniLM; any other
sentence-transformers model works by hub name or local path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.text_embedding import (
    DEFAULT_MODEL,
    TextEmbedder,
    get_text_embedder,
    load_cross_encoder,
    resolve_model_path,
)

DEFAULT_EMBEDDER = DEFAULT_MODEL

# the corpus store's dense embedder is the shared TextEmbedder; `Embedder` stays importable
Embedder = TextEmbedder

__all__ = [
    "DEFAULT_EMBEDDER",
    "Embedder",
    "Reranker",
    "TextEmbedder",
    "get_text_embedder",
    "resolve_model_path",
]


class Reranker:
    """A sentence-transformers CrossEncoder (by name or path), loaded on first use."""

    def __init__(self, name: str, device: str = "cpu"):
        self.name = name
        self.device = device
        self._model: Any = None

    def score(self, query: str, texts: list[str]) -> np.ndarray:
        if self._model is None:
            self._model = load_cross_encoder(self.name, self.device)
        if not texts:
            return np.zeros(0, dtype=np.float32)
        scores = self._model.predict([(query, t) for t in texts], show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(texts), -1)[:, -1]
