"""The library's FAISS indexes, kept in step with SQLite (the source of truth).

One index per embedding space (`speaker:<model>`, `text:minilm`), in memory and in
`index/<space>.faiss`. Every index records the database generation (`gen`, `del_gen`) and the
highest rowid it holds. Before each use it is compared with the database: an index behind by
new rows only (committed by this or another process) is extended from SQLite; one that missed
a deletion or an edit, or a missing or damaged file, is rebuilt. Files are only written while
holding the library's write lock (readers save when the lock is free, else keep theirs in
memory), each one atomically (`voices.index.save`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from voices import index as vindex
from voices.store import Store
from voices.writer import WriterLock

log = logging.getLogger("stepvox.voices")

EXACT_MAX = 50_000  # filtered searches over at most this many voices are scored exactly


@dataclass
class SpaceIndex:
    index: Any  # faiss.Index, None while the space is empty
    gen: int
    del_gen: int
    max_rowid: int
    dirty: bool = False

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal) if self.index is not None else 0


class IndexSet:
    def __init__(
        self,
        folder: Path,
        store: Store,
        writer: WriterLock,
        fill_missing: Callable[[str], int],
    ) -> None:
        self.folder = folder
        self.store = store
        self.writer = writer
        self._fill_missing = fill_missing  # computes embeddings a space lacks (model switch)
        self._mem: dict[str, SpaceIndex] = {}
        self.events: list[str] = []  # what maintenance happened (rebuilt, extended)

    def path(self, space: str) -> Path:
        return self.folder / (space.replace(":", "-") + ".faiss")

    def drop(self, space: str | None = None) -> None:
        """Forget the in-memory index (all with None); the next use reloads or rebuilds it."""
        if space is None:
            self._mem.clear()
        else:
            self._mem.pop(space, None)

    # -- keeping up with the database ----------------------------------------------------------
    def _load(self, space: str) -> SpaceIndex | None:
        try:
            loaded = vindex.load(self.path(space))
        except vindex.CorruptIndex as e:
            self.events.append(f"rebuilt {space}: {e}")
            log.warning("voice index damaged, rebuilding: %s", e)
            return None
        if loaded is None:
            return None
        index, meta = loaded
        return SpaceIndex(index, meta["gen"], meta["del_gen"], meta["max_rowid"])

    def _build(self, space: str) -> SpaceIndex:
        self._fill_missing(space)
        gen, del_gen = self.store.gens()
        ids, vecs = self.store.embeddings(space)
        if len(ids) == 0:
            return SpaceIndex(None, gen, del_gen, 0)
        st = SpaceIndex(vindex.build_index(vecs, ids), gen, del_gen, int(ids.max()), dirty=True)
        with self.writer.try_hold() as held:
            if held:
                self._save(space, st)
        return st

    def ensure(self, space: str) -> SpaceIndex:
        """The index of `space`, brought up to the database's current generation."""
        gen, del_gen = self.store.gens()
        st = self._mem.get(space)
        if st is not None and st.gen == gen and st.del_gen == del_gen:
            return st
        usable = st is not None and st.index is not None and st.del_gen == del_gen and st.gen <= gen
        if not usable:
            loaded = self._load(space)  # another process may have saved a newer one
            if (
                loaded is not None
                and loaded.index is not None
                and loaded.del_gen == del_gen
                and loaded.gen <= gen
            ):
                st = loaded
            else:
                if st is not None or loaded is not None:
                    self.events.append(f"rebuilt {space}: behind the database")
                st = self._build(space)
                self._mem[space] = st
                return st
        assert st is not None
        if st.gen < gen:  # rows committed since (by this or another process): add them
            ids, vecs = self.store.embeddings(space, min_rowid=st.max_rowid)
            if len(ids):
                st.index.add_with_ids(vecs, ids)
                st.max_rowid = int(ids.max())
                self.events.append(f"extended {space} by {len(ids)}")
            st.gen = gen
            st.dirty = True
        self._mem[space] = st
        return st

    def rebuild(self, spaces: list[str]) -> dict[str, Any]:
        """Drop the files and rebuild every space from SQLite (caller holds the write lock)."""
        out = {}
        self._mem.clear()
        for space in spaces:
            self.path(space).unlink(missing_ok=True)
            Path(str(self.path(space)) + ".json").unlink(missing_ok=True)
            st = self._build(space)
            self._mem[space] = st
            out[space] = {
                "kind": vindex.index_kind(st.index) if st.index is not None else None,
                "vectors": st.ntotal,
            }
        return out

    # -- saving ---------------------------------------------------------------------------------
    def _save(self, space: str, st: SpaceIndex) -> None:
        meta: dict[str, Any] = {
            "gen": st.gen,
            "del_gen": st.del_gen,
            "max_rowid": st.max_rowid,
            "space": space,
        }
        if vindex.index_kind(st.index) == "ivf":
            meta["nprobe"] = int(faiss.extract_index_ivf(st.index).nprobe)
        try:
            vindex.save(st.index, self.path(space), meta)
            st.dirty = False
        except OSError as e:  # a read-only library still searches (index kept in memory)
            log.warning("cannot save index %s: %s", space, e)

    def persist(self, force: bool = True) -> None:
        """Save the indexes that changed, if the write lock is free (or held by this thread).
        Without `force`, only exact indexes up to FLAT_MAX (cheap to write) are saved.
        Each is first brought up to the database, so the file is never older than the data."""
        dirty = [s for s, st in self._mem.items() if st.dirty and st.index is not None]
        if not dirty:
            return
        with self.writer.try_hold() as held:
            if not held:
                return
            for space in dirty:
                st = self.ensure(space)
                if st.index is not None and (force or st.ntotal <= vindex.FLAT_MAX):
                    self._save(space, st)

    # -- search -----------------------------------------------------------------------------------
    def knn(self, space: str, q: np.ndarray, k: int, allowed: set[int] | None) -> dict[int, float]:
        """rowid -> cosine for the k nearest in one space (exact when a filter leaves few)."""
        if allowed is not None and len(allowed) <= EXACT_MAX:
            ids, vecs = self.store.embeddings(space, rowids=sorted(allowed))
            if len(ids) == 0:
                return {}
            s = vecs @ q.astype(np.float32)
            top = np.argsort(-s)[:k]
            return {int(ids[i]): float(s[i]) for i in top}
        st = self.ensure(space)
        if st.index is None:
            return {}
        kk = k if allowed is None else k * 20
        scores, ids = vindex.search(st.index, q, kk)
        out = {}
        for s, i in zip(scores[0], ids[0], strict=True):
            if i >= 0 and (allowed is None or int(i) in allowed):
                out[int(i)] = float(s)
        return dict(list(out.items())[:k])
