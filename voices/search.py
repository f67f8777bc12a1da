"""Search a library by example audio (speaker similarity), by description (MiniLM similarity
of the voice's description text, combined with matching of gender/age/pitch/pace words against
given or estimated attributes), by attribute filters, or any combination.

Scores (higher is better): cosine for audio; 0.5 * text similarity + 0.5 * attribute match
for text naming attributes; the mean of both when both are given."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voices.embedders import TEXT_SPACE
from voices.records import where_clause
from voices.schema import VoiceHit
from voices.textmatch import attribute_match, parse_request

if TYPE_CHECKING:
    from voices.library import VoiceLibrary


def _attribute_pool(lib: VoiceLibrary, wanted: dict[str, Any], pool: int) -> list[int]:
    """Rowids whose gender/age band match the request (they enter the pool even when their
    description text is not close)."""
    named = [a for a in wanted if a in ("gender", "age_band")]
    if not named:
        return []
    where = " AND ".join(f"lower(coalesce({a}, ''))=?" for a in named)
    rows = lib.store.db.execute(
        f"SELECT rowid FROM voices WHERE {where} LIMIT ?", [*(wanted[a] for a in named), pool]
    ).fetchall()
    return [int(r[0]) for r in rows]


def _text_scores(
    lib: VoiceLibrary, text: str, pool: int, allowed: set[int] | None
) -> dict[int, float]:
    qt = lib.text_embedder.encode([text])[0]
    sims = lib.indexes.knn(TEXT_SPACE, qt, pool, allowed)
    wanted = parse_request(text)
    if not wanted:
        return sims
    missing = [
        r
        for r in _attribute_pool(lib, wanted, pool)
        if r not in sims and (allowed is None or r in allowed)
    ]
    if missing:
        ids, vecs = lib.store.embeddings(TEXT_SPACE, rowids=missing)
        sims.update({int(i): float(s) for i, s in zip(ids, vecs @ qt, strict=True)})
    scored = {}
    for rid, sim in sims.items():
        row = lib.store.row("rowid=?", (rid,))
        if row is not None:
            attrs = lib.voice_from_row(row).attributes()
            scored[rid] = 0.5 * sim + 0.5 * attribute_match(wanted, attrs)
    return scored


def search(
    lib: VoiceLibrary,
    text: str | None = None,
    audio: list[str | Path] | None = None,
    filters: dict[str, Any] | None = None,
    top_k: int = 5,
) -> list[VoiceHit]:
    if top_k <= 0 or lib.count() == 0:
        return []
    allowed = None
    if filters:
        where, args = where_clause(filters)
        allowed = {
            int(r[0]) for r in lib.store.db.execute(f"SELECT rowid FROM voices WHERE {where}", args)
        }
        if not allowed:
            return []
    parts: list[dict[int, float]] = []
    q_audio: np.ndarray | None = lib.embed_audio(list(audio)) if audio else None
    pool = max(top_k * 20, 100)
    if q_audio is not None:
        parts.append(lib.indexes.knn(lib.speaker_space, q_audio, pool if text else top_k, allowed))
    if text and text.strip():
        parts.append(_text_scores(lib, text, pool, allowed))
    if not parts:  # filters only
        parts.append({r: 1.0 for r in sorted(allowed or [])[:top_k]})
    if len(parts) == 2:  # fill in the other score for candidates found by one side only
        a, t = parts
        assert q_audio is not None
        for rid in set(t) - set(a):
            ids, vecs = lib.store.embeddings(lib.speaker_space, rowids=[rid])
            if len(ids):
                a[rid] = float(vecs[0] @ q_audio)
        combined = {rid: 0.5 * (a.get(rid, 0.0) + t.get(rid, 0.0)) for rid in set(a) | set(t)}
    else:
        combined = parts[0]
    hits = []
    for rid, score in sorted(combined.items(), key=lambda kv: -kv[1])[:top_k]:
        row = lib.store.row("rowid=?", (rid,))
        if row is None:  # removed by another process since the index was read
            continue
        v = lib.voice_from_row(row)
        hits.append(VoiceHit(id=v.id, name=v.name, score=float(score), attributes=v.attributes()))
    return hits
