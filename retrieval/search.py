"""Searching one generation's indexes: dense top-k, BM25 top-k, reciprocal rank fusion,
the passages' metadata from SQLite, and the optional cross-encoder rerank."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from retrieval.database import chunk_meta
from retrieval.embedding import Reranker, TextEmbedder
from retrieval.index_files import Indexes
from retrieval.types import Passage

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al., 2009)
MODES = ("hybrid", "dense", "bm25")


def rrf(lists: list[list[int]]) -> dict[int, float]:
    """Reciprocal rank fusion of ranked id lists: id -> sum of 1 / (RRF_K + rank)."""
    fused: dict[int, float] = {}
    for lst in lists:
        for rank, cid in enumerate(lst):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return fused


def bm25_top(ix: Indexes, query: str, k: int) -> list[int]:
    """Chunk ids of the best `k` BM25 matches with a positive score."""
    import bm25s

    if ix.bm25 is None or len(ix.bm25_ids) == 0:
        return []
    toks = bm25s.tokenize(
        [query], stopwords="en", stemmer=ix.stemmer, return_ids=False, show_progress=False
    )[0]
    tids = ix.bm25.get_tokens_ids(toks)
    if not tids:
        return []
    scores = ix.bm25.get_scores_from_ids(tids)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [int(ix.bm25_ids[i]) for i in top if scores[i] > 0]


def search(
    db: sqlite3.Connection,
    ix: Indexes,
    embedder: TextEmbedder,
    query: str,
    top_k: int,
    *,
    mode: str,
    corpus: str | None,
    candidates: int | None,
    reranker: Reranker | None,
) -> list[Passage]:
    """Best passages of `ix` for `query` (see CorpusStore.search). Chunks the SQLite rows no
    longer hold (a writer committed since `ix` was loaded) are left out."""
    if ix.dense is None or ix.size == 0:
        return []
    want = max(top_k, 20 if reranker is not None else top_k)
    k = min(ix.size, candidates or max(50, want * 4) * (4 if corpus else 1))
    qv = embedder.encode([query])
    lists: list[list[int]] = []
    dense_sim: dict[int, float] = {}
    if mode in ("hybrid", "dense"):
        sims, ids = ix.dense.search(qv, k)
        lists.append([int(i) for i in ids[0] if i >= 0])
        dense_sim = {int(i): float(s) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0}
    if mode in ("hybrid", "bm25"):
        lists.append(bm25_top(ix, query, k))
    fused = rrf(lists)
    order = sorted(fused, key=lambda c: -fused[c])
    meta = chunk_meta(db, order)
    order = [c for c in order if c in meta and (not corpus or meta[c]["corpus"] == corpus)]
    out = [_passage(ix, meta[c], c, fused[c], dense_sim.get(c), qv[0]) for c in order[:want]]
    if reranker is not None and out:
        scores = reranker.score(query, [p.text for p in out])
        for p, s in zip(out, scores, strict=True):
            p.score = float(s)
        out.sort(key=lambda p: -p.score)
    return out[:top_k]


def _passage(
    ix: Indexes, m: dict[str, Any], cid: int, score: float, sim: float | None, qv: np.ndarray
) -> Passage:
    rel = sim if sim is not None else float(np.dot(ix.dense.reconstruct(cid), qv))
    return Passage(
        source=m["source"],
        title=m["title"],
        section=m["section"],
        text=m["text"],
        score=score,
        relevance=max(-1.0, min(1.0, rel)),
        corpus=m["corpus"],
        chunk_id=cid,
        start=m["start"],
        end=m["end"],
    )
