"""The index files of one generation: `dense-<gen>.faiss` and `bm25-<gen>/`.

A writer builds generation g+1 beside the committed generation g: each file goes to a
temporary name, is fsynced, and is renamed into place (the BM25 folder as a whole), and
only then does the writer commit g+1 in SQLite. A kill at any point leaves either unused
files of an uncommitted generation (removed by the next writer) or a complete set; a
committed generation never refers to a half-written file. Files are 0600, folders 0700.

Loaded indexes are cached per store root and generation for the process: they are never
changed in place (a writer clones), so every handle on a root can share them.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class IndexFilesMissing(Exception):
    """The files of a generation are absent or unreadable."""


@dataclass(frozen=True)
class Indexes:
    """The loaded indexes of one generation (dense is None when the store is empty)."""

    gen: int
    dense: Any  # faiss.IndexIDMap2(IndexFlatIP); FAISS ids are the SQLite chunk ids
    bm25: Any  # bm25s.BM25, or None
    bm25_ids: np.ndarray  # chunk id of each BM25 row
    stemmer: Any  # the stemmer the BM25 index was built with (None: none)

    @property
    def size(self) -> int:
        return 0 if self.dense is None else int(self.dense.ntotal)


def empty(gen: int) -> Indexes:
    return Indexes(gen, None, None, np.zeros(0, dtype=np.int64), None)


def dense_path(root: Path, gen: int) -> Path:
    return root / f"dense-{gen}.faiss"


def bm25_path(root: Path, gen: int) -> Path:
    return root / f"bm25-{gen}"


def english_stemmer() -> Any:
    """An English stemmer for BM25 when PyStemmer is installed, else None."""
    try:
        import Stemmer  # PyStemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        return None


def new_dense(dim: int) -> Any:
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def clone_dense(dense: Any) -> Any:
    import faiss

    return faiss.clone_index(dense)


def build_bm25(ids: list[int], texts: list[str]) -> tuple[Any, np.ndarray, Any]:
    """(bm25s index, chunk ids of its rows, stemmer) over `texts`."""
    import bm25s

    stemmer = english_stemmer()
    arr = np.array(ids, dtype=np.int64)
    if not texts:
        return None, arr, stemmer
    tokens = bm25s.tokenize(
        texts, stopwords="en", stemmer=stemmer, show_progress=False, allow_empty=True
    )
    bm = bm25s.BM25()
    bm.index(tokens, show_progress=False)
    return bm, arr, stemmer


# ---------------------------------------------------------------- writing


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_tree(folder: Path) -> None:
    """0700 on the folder (and subfolders), 0600 on its files, each fsynced."""
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chmod(dirpath, 0o700)
        for fn in filenames:
            p = Path(dirpath) / fn
            os.chmod(p, 0o600)
            _fsync_path(p)
        for d in dirnames:
            os.chmod(Path(dirpath) / d, 0o700)
    _fsync_path(folder)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def write(root: Path, ix: Indexes) -> None:
    """Write ix's files as generation ix.gen, each complete before it gets its final name.
    Only the writer holding the store's writer lock calls this."""
    import faiss

    if ix.dense is None:
        return  # an empty store has no index files
    final = dense_path(root, ix.gen)
    tmp = root / f".{final.name}.tmp"
    faiss.write_index(ix.dense, str(tmp))
    os.chmod(tmp, 0o600)
    _fsync_path(tmp)
    os.replace(tmp, final)

    folder = bm25_path(root, ix.gen)
    tmp_dir = root / f".{folder.name}.tmp"
    _remove(tmp_dir)
    if ix.bm25 is not None:
        ix.bm25.save(str(tmp_dir), show_progress=False)
    tmp_dir.mkdir(exist_ok=True)
    np.save(tmp_dir / "ids.npy", ix.bm25_ids)
    (tmp_dir / "stemmer.txt").write_text("english" if ix.stemmer is not None else "none")
    _private_tree(tmp_dir)
    _remove(folder)  # left by a writer killed before it committed this generation
    os.rename(tmp_dir, folder)
    _fsync_path(root)


def drop_others(root: Path, keep_gen: int) -> None:
    """Delete index files (and temporaries) of every generation but `keep_gen`. Writer only."""
    keep = {dense_path(root, keep_gen).name, bm25_path(root, keep_gen).name}
    for p in root.iterdir():
        name = p.name.lstrip(".")
        if name.startswith(("dense-", "bm25-")) and p.name not in keep:
            _remove(p)


# ---------------------------------------------------------------- reading

_CACHE: dict[str, Indexes] = {}
_CACHE_LOCK = threading.Lock()


def _key(root: Path) -> str:
    return str(root.resolve())


def cached(root: Path, gen: int) -> Indexes | None:
    with _CACHE_LOCK:
        ix = _CACHE.get(_key(root))
    return ix if ix is not None and ix.gen == gen else None


def remember(root: Path, ix: Indexes) -> None:
    with _CACHE_LOCK:
        old = _CACHE.get(_key(root))
        if old is None or old.gen <= ix.gen:
            _CACHE[_key(root)] = ix


def load(root: Path, gen: int, chunk_texts: Callable[[], tuple[list[int], list[str]]]) -> Indexes:
    """The indexes of generation `gen`, from the process cache or the files; raises
    IndexFilesMissing when a file is absent or unreadable (e.g. deleted by a writer that has
    committed a newer generation meanwhile). A BM25 index built with PyStemmer, which is no
    longer installed, is rebuilt in memory from `chunk_texts()`."""
    dpath, bpath = dense_path(root, gen), bm25_path(root, gen)
    hit = cached(root, gen)
    if hit is not None and dpath.exists() and (bpath / "ids.npy").exists():
        return hit
    import bm25s
    import faiss

    try:
        dense = faiss.read_index(str(dpath))
        built_with = (bpath / "stemmer.txt").read_text().strip()
        ids = np.load(bpath / "ids.npy")
        bm = bm25s.BM25.load(str(bpath), show_progress=False) if len(ids) else None
    except Exception as e:  # FileNotFoundError, or faiss/numpy on a damaged file
        raise IndexFilesMissing(f"generation {gen}: {type(e).__name__}: {e}") from None
    stemmer = english_stemmer() if built_with == "english" else None
    if built_with == "english" and stemmer is None:
        bm, ids, stemmer = build_bm25(*chunk_texts())
    if int(dense.ntotal) != len(ids):
        raise IndexFilesMissing(f"generation {gen}: {dense.ntotal} vectors, {len(ids)} BM25 rows")
    ix = Indexes(gen, dense, bm, ids, stemmer)
    remember(root, ix)
    return ix
