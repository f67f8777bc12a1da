"""Curation over a whole library: same-speaker clusters, quality/integrity report (portable
archives: `voices.archive`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from voices.embedders import TEXT_SPACE
from voices.library import VoiceLibrary

DEFAULT_DEDUPE_THRESHOLD = 0.85


def dedupe(lib: VoiceLibrary, threshold: float = DEFAULT_DEDUPE_THRESHOLD) -> dict[str, Any]:
    """Clusters of clips whose speaker embeddings are within `threshold` cosine (single link)."""
    ids, vecs = lib.store.embeddings(lib.speaker_space)
    n = len(ids)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    best: dict[tuple[int, int], float] = {}
    for start in range(0, n, 2048):
        block = vecs[start : start + 2048] @ vecs.T
        for bi, j in zip(*np.nonzero(block >= threshold), strict=True):
            i = start + int(bi)
            if i < j:
                best[(i, int(j))] = float(block[bi, j])
                parent[find(i)] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    clusters = []
    for members in groups.values():
        if len(members) < 2:
            continue
        rows = [lib.store.row("rowid=?", (int(ids[m]),)) for m in members]
        scores = [s for (a, b), s in best.items() if a in members and b in members]
        clusters.append(
            {
                "ids": [r["id"] for r in rows],
                "names": [r["name"] for r in rows],
                "min_score": round(min(scores), 4),
                "max_score": round(max(scores), 4),
            }
        )
    clusters.sort(key=lambda c: -len(c["ids"]))
    return {"threshold": threshold, "voices": n, "clusters": clusters}


def check(lib: VoiceLibrary, verify_audio: bool = True) -> dict[str, Any]:
    """Quality verdicts per voice plus integrity of the stored files and indexes."""
    verdicts: dict[str, int] = {}
    issues, missing, damaged = [], [], []
    for v in lib.list():
        verdicts[v.quality.verdict] = verdicts.get(v.quality.verdict, 0) + 1
        if v.quality.verdict != "good":
            issues.append(
                {
                    "id": v.id,
                    "name": v.name,
                    "verdict": v.quality.verdict,
                    "reasons": v.quality.reasons,
                }
            )
        p = Path(v.audio_path)
        if not p.is_file():
            missing.append(v.id)
        elif verify_audio:
            try:
                import soundfile as sf

                sf.info(str(p))
            except Exception:
                damaged.append(v.id)
    indexes = {}
    for space in (lib.speaker_space, TEXT_SPACE):
        before = len(lib.index_events)
        st = lib.indexes.ensure(space)
        indexes[space] = {
            "vectors": st.ntotal,
            "events": lib.index_events[before:],
        }
    return {
        "voices": lib.count(),
        "verdicts": verdicts,
        "issues": issues,
        "integrity": {"missing_audio": missing, "unreadable_audio": damaged, "indexes": indexes},
    }
