"""CorpusStore: ingest files into named corpora and search them (dense + BM25, fused).

On disk, under `root` (normally $STEPVOX_HOME/corpora):

    corpus.sqlite          documents and chunks (source, title, section, offsets, text),
                           plus meta (embedder, dimension, generation)
    dense-<gen>.faiss      FAISS IndexIDMap2(IndexFlatIP) over normalised embeddings;
                           FAISS ids are the chunk ids of the SQLite table
    bm25-<gen>/            the bm25s index and the chunk id of each of its rows

Every change writes new index files for the next generation, then commits the new
generation number in SQLite, then deletes the old files: a reader always sees a
matching (metadata, index) pair, and an interrupted write leaves the old one intact.
Readers in other processes notice a newer generation on their next search and reload.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP, Chunk, chunk_document
from retrieval.embedding import DEFAULT_EMBEDDER, Reranker, TextEmbedder, get_text_embedder
from retrieval.loaders import (
    DEFAULT_MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    LoadedDocument,
    SkipFile,
    parse_bytes,
    read_bytes,
)
from retrieval.types import IngestReport, Passage

Progress = Callable[[int, int, str], None]

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al., 2009)

# Loaded indexes per store root, for the latest generation seen: opening a new
# CorpusStore on the same root (e.g. once per tool call) reuses them instead of
# reading the files again. Indexes are never mutated in place (writers clone), so
# sharing them between instances is safe.
_LOADED: dict[str, tuple[int, Any, Any, np.ndarray, Any]] = {}
_LOADED_LOCK = threading.Lock()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    corpus TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (corpus, source)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    section TEXT NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS documents_corpus ON documents(corpus);
"""


def _tokenizer_stemmer() -> Any:
    """An English stemmer for BM25 when PyStemmer is installed, else None."""
    try:
        import Stemmer  # PyStemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        return None


@dataclass
class PendingDocument:
    """A parsed, chunked and embedded document waiting to be written."""

    source: str
    title: str
    kind: str
    sha256: str
    size: int
    chunks: list[Chunk]
    vectors: np.ndarray  # (len(chunks), dim) float32, L2-normalised


def _embed_text(title: str, section: str, text: str) -> str:
    head = " > ".join(p for p in (title, section) if p)
    return f"{head}\n{text}" if head else text


class CorpusStore:
    """Named text corpora under one root, searched together (or by corpus name).

    Opening is cheap: the embedding model loads on the first add or search.
    """

    def __init__(
        self,
        root: Path | str,
        embedder: str | None = None,
        *,
        reranker: str | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
        overlap: int = DEFAULT_OVERLAP,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        embed_batch_size: int = 64,
    ):
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_chars = max_chars
        self.overlap = overlap
        self.max_file_bytes = max_file_bytes
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.root / "corpus.sqlite", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        stored = self._meta("embedder")
        if stored and embedder and embedder != stored and self._count_chunks() > 0:
            raise ValueError(
                f"{self.root}: corpus index was built with embedder {stored!r}, not {embedder!r}; "
                "use that embedder, or remove the corpora and add them again"
            )
        self.embedder_name = embedder or stored or DEFAULT_EMBEDDER
        # the process-wide embedder for this model (shared with every other store and user)
        self._embedder = get_text_embedder(self.embedder_name)
        self._embed_batch_size = embed_batch_size
        self.reranker_name = reranker or os.environ.get("STEPVOX_RERANKER") or None
        self._reranker = Reranker(self.reranker_name) if self.reranker_name else None
        self._bm25_stemmer: Any = None  # the stemmer the loaded BM25 index was built with
        self._loaded_gen: int | None = None
        self._dense: Any = None
        self._bm25: Any = None
        self._bm25_ids: np.ndarray | None = None

    # ------------------------------------------------------------------ small helpers

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, str(value)),
        )

    def _generation(self) -> int:
        return int(self._meta("generation") or 0)

    def _count_chunks(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def _dense_path(self, gen: int) -> Path:
        return self.root / f"dense-{gen}.faiss"

    def _bm25_path(self, gen: int) -> Path:
        return self.root / f"bm25-{gen}"

    @property
    def embedder(self) -> TextEmbedder:
        return self._embedder

    def _embed_chunks(self, texts: list[str]) -> np.ndarray:
        # bulk indexing bypasses the per-text cache (it would only evict the query vectors)
        return self._embedder.encode(texts, batch_size=self._embed_batch_size, cache=False)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> CorpusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ index state

    def _new_dense(self, dim: int) -> Any:
        import faiss

        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def _ensure_loaded(self) -> None:
        """Load the index files of the committed generation (rebuild them if missing)."""
        gen = self._generation()
        if self._loaded_gen == gen and self._dense is not None:
            return
        import faiss

        dpath, bpath = self._dense_path(gen), self._bm25_path(gen)
        n = self._count_chunks()
        if n == 0:
            self._dense, self._bm25, self._bm25_ids = None, None, None
            self._loaded_gen = gen
            return
        if not dpath.exists() or not (bpath / "ids.npy").exists():
            if self._generation() != gen:  # a writer just committed a newer generation
                self._ensure_loaded()
                return
            self._rebuild_indexes()
            return
        key = str(self.root.resolve())
        with _LOADED_LOCK:
            cached = _LOADED.get(key)
        if cached is not None and cached[0] == gen:
            _, self._dense, self._bm25, self._bm25_ids, self._bm25_stemmer = cached
            self._loaded_gen = gen
            return
        self._dense = faiss.read_index(str(dpath))
        self._bm25, self._bm25_ids = self._load_bm25(bpath)
        self._loaded_gen = gen
        self._remember()

    def _remember(self) -> None:
        key = str(self.root.resolve())
        with _LOADED_LOCK:
            _LOADED[key] = (
                self._loaded_gen, self._dense, self._bm25, self._bm25_ids, self._bm25_stemmer,
            )  # fmt: skip

    def _load_bm25(self, path: Path) -> tuple[Any, np.ndarray]:
        import bm25s

        stem_file = path / "stemmer.txt"
        built_with = stem_file.read_text().strip() if stem_file.exists() else "none"
        stemmer = _tokenizer_stemmer() if built_with == "english" else None
        if built_with == "english" and stemmer is None:  # PyStemmer gone: rebuild in memory
            return self._build_bm25()
        self._bm25_stemmer = stemmer
        ids = np.load(path / "ids.npy")
        if len(ids) == 0:
            return None, ids
        return bm25s.BM25.load(str(path), show_progress=False), ids

    def _build_bm25(self) -> tuple[Any, np.ndarray]:
        import bm25s

        rows = self._db.execute(
            "SELECT c.id, d.title, c.section, c.text FROM chunks c JOIN documents d ON d.id=c.doc_id ORDER BY c.id"
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        stemmer = _tokenizer_stemmer()
        self._bm25_stemmer = stemmer
        if not rows:
            return None, ids
        texts = [_embed_text(r[1], r[2], r[3]) for r in rows]
        tokens = bm25s.tokenize(
            texts, stopwords="en", stemmer=stemmer, show_progress=False, allow_empty=True
        )
        bm = bm25s.BM25()
        bm.index(tokens, show_progress=False)
        return bm, ids

    def _write_generation(self, dense: Any, bm: Any, bm_ids: np.ndarray) -> None:
        """Persist indexes as generation g+1, commit it, drop older files."""
        import faiss

        old = self._generation()
        new = old + 1
        dtmp = self._dense_path(new).with_suffix(".tmp")
        faiss.write_index(dense, str(dtmp))
        os.replace(dtmp, self._dense_path(new))
        bpath = self._bm25_path(new)
        shutil.rmtree(bpath, ignore_errors=True)
        if bm is not None:
            bm.save(str(bpath), show_progress=False)
        bpath.mkdir(parents=True, exist_ok=True)
        np.save(bpath / "ids.npy", bm_ids)
        (bpath / "stemmer.txt").write_text("english" if self._bm25_stemmer is not None else "none")
        self._set_meta("generation", new)
        self._dense, self._bm25, self._bm25_ids = dense, bm, bm_ids
        self._loaded_gen = new
        self._remember()

    def _drop_old_files(self) -> None:
        """Delete index files of generations other than the committed one."""
        gen = self._generation()
        keep = {self._dense_path(gen).name, self._bm25_path(gen).name}
        for p in self.root.iterdir():
            if p.name.startswith(("dense-", "bm25-")) and p.name not in keep:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    def _rebuild_indexes(self) -> None:
        """Re-embed every chunk from SQLite (after an interrupted write or a model change)."""
        rows = self._db.execute(
            "SELECT c.id, d.title, c.section, c.text FROM chunks c JOIN documents d ON d.id=c.doc_id ORDER BY c.id"
        ).fetchall()
        dense = self._new_dense(self._embedder.dim)
        for i in range(0, len(rows), 1024):
            part = rows[i : i + 1024]
            vecs = self._embed_chunks([_embed_text(r[1], r[2], r[3]) for r in part])
            dense.add_with_ids(vecs, np.array([r[0] for r in part], dtype=np.int64))
        bm, ids = self._build_bm25() if rows else (None, np.zeros(0, dtype=np.int64))
        self._write_generation(dense, bm, ids)
        self._drop_old_files()

    def rebuild(self, embeddings: bool = True) -> int:
        """Rebuild the indexes from the stored chunks; returns the chunk count.

        With embeddings=False only BM25 is rebuilt (e.g. after installing PyStemmer) and
        the dense vectors are kept.
        """
        with self._lock:
            if embeddings:
                self._rebuild_indexes()
            else:
                self._ensure_loaded()
                if self._dense is not None:
                    bm, ids = self._build_bm25()
                    self._write_generation(self._dense, bm, ids)
                    self._drop_old_files()
            return self._count_chunks()

    # ------------------------------------------------------------------ ingest

    def _collect(self, paths: Iterable[Path | str]) -> tuple[list[Path], list[Path], list[Path]]:
        """(files to ingest, directories walked, explicit paths that do not exist)."""
        files: list[Path] = []
        dirs: list[Path] = []
        missing: list[Path] = []
        seen: set[Path] = set()
        for raw in paths:
            p = Path(raw).expanduser().absolute()
            if p.is_dir():
                dirs.append(p)
                for dirpath, dirnames, filenames in os.walk(p):
                    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                    for fn in sorted(filenames):
                        if fn.startswith("."):
                            continue
                        fp = Path(dirpath) / fn
                        if fp not in seen:
                            seen.add(fp)
                            files.append(fp)
            elif p.exists() or p.is_symlink():
                if p not in seen:
                    seen.add(p)
                    files.append(p)
            else:
                missing.append(p)
        return files, dirs, missing

    def add(
        self,
        paths: list[Path] | list[str] | Path | str,
        name: str = "default",
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest files and folders into corpus `name`, incrementally by content hash.

        New files are added, changed ones re-indexed, unchanged ones left alone; files
        that were indexed under a given folder (or named directly) and no longer exist
        are removed. Bad input is skipped with a reason.
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        name = (name or "default").strip() or "default"
        t0 = time.perf_counter()
        report = IngestReport(corpus=name)
        with self._lock:
            self._ensure_loaded()
            files, dirs, missing = self._collect(paths)
            existing = {
                r["source"]: r
                for r in self._db.execute(
                    "SELECT id, source, sha256, n_chunks FROM documents WHERE corpus=?", (name,)
                )
            }
            explicit = {Path(p).expanduser().absolute() for p in paths}
            remove_doc_ids: list[int] = []
            pending: list[PendingDocument] = []
            for i, fp in enumerate(files, start=1):
                src = str(fp)
                old = existing.get(src)
                try:
                    if fp not in explicit and fp.suffix.lower() not in SUPPORTED_SUFFIXES:
                        raise SkipFile(f"unsupported file type {fp.suffix or '(no suffix)'}")
                    data = read_bytes(fp, self.max_file_bytes)
                    digest = hashlib.sha256(data).hexdigest()
                    if old is not None and old["sha256"] == digest:
                        report.unchanged.append(src)
                    else:
                        doc = parse_bytes(data, fp)
                        chunks = chunk_document(doc, self.max_chars, self.overlap)
                        if not chunks:
                            raise SkipFile("no text found")
                        pending.append(self._embed_document(src, doc, chunks, digest, len(data)))
                except SkipFile as e:
                    report.skipped.append((src, str(e)))
                    if old is not None:  # stale content must not stay searchable
                        remove_doc_ids.append(old["id"])
                        report.removed.append(src)
                if progress:
                    progress(i, len(files), src)
            # deleted files: indexed under a walked folder, or named directly, and gone
            for p in missing:
                if str(p) in existing:
                    remove_doc_ids.append(existing[str(p)]["id"])
                    report.removed.append(str(p))
                else:
                    report.skipped.append((str(p), "no such file or directory"))
            walked = {str(f) for f in files}
            for src, row in existing.items():
                if src in walked:
                    continue
                if any(src.startswith(str(d) + os.sep) for d in dirs) and not os.path.exists(src):
                    remove_doc_ids.append(row["id"])
                    report.removed.append(src)
            if pending or remove_doc_ids:
                self._apply(name, pending, remove_doc_ids, existing, report)
        report.seconds = time.perf_counter() - t0
        return report

    def _embed_document(
        self, source: str, doc: LoadedDocument, chunks: list[Chunk], digest: str, size: int
    ) -> PendingDocument:
        vecs = self._embed_chunks([_embed_text(doc.title, c.section, c.text) for c in chunks])
        return PendingDocument(source, doc.title, doc.kind, digest, size, chunks, vecs)

    def add_embedded(self, documents: list[PendingDocument], name: str = "default") -> IngestReport:
        """Add documents whose chunks are already embedded (by this store's model, e.g.
        on another machine). Replaces documents with the same source in `name`."""
        t0 = time.perf_counter()
        report = IngestReport(corpus=name)
        with self._lock:
            self._ensure_loaded()
            existing = {
                r["source"]: r
                for r in self._db.execute(
                    "SELECT id, source, sha256, n_chunks FROM documents WHERE corpus=?", (name,)
                )
            }
            if documents:
                self._apply(name, documents, [], existing, report)
        report.seconds = time.perf_counter() - t0
        return report

    def _apply(
        self,
        name: str,
        pending: list[PendingDocument],
        remove_doc_ids: list[int],
        existing: dict[str, Any],
        report: IngestReport,
    ) -> None:
        """Write embedded documents and removals to SQLite + indexes as one new generation."""
        import faiss

        dim = pending[0].vectors.shape[1] if pending else None
        stored_dim = self._meta("dim")
        if dim is not None and stored_dim and int(stored_dim) != dim and self._count_chunks() > 0:
            raise ValueError(
                f"{self.root}: embedding size {dim} differs from the index's {stored_dim}"
            )
        dense = self._dense
        if dense is None:
            dense = self._new_dense(dim or int(stored_dim or self._embedder.dim))
        else:
            dense = faiss.clone_index(dense)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            doc_ids_to_drop = list(remove_doc_ids)
            for pd in pending:
                old = existing.get(pd.source)
                if old is not None:
                    doc_ids_to_drop.append(old["id"])
            drop_chunk_ids: list[int] = []
            for did in doc_ids_to_drop:
                drop_chunk_ids += [
                    r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id=?", (did,))
                ]
                db.execute("DELETE FROM chunks WHERE doc_id=?", (did,))
                db.execute("DELETE FROM documents WHERE id=?", (did,))
            if drop_chunk_ids:
                dense.remove_ids(np.array(drop_chunk_ids, dtype=np.int64))
            report.chunks_removed = len(drop_chunk_ids)
            now = time.time()
            for pd in pending:
                src, chunks = pd.source, pd.chunks
                cur = db.execute(
                    "INSERT INTO documents(corpus, source, title, kind, sha256, size, n_chunks, updated_at)"
                    " VALUES(?,?,?,?,?,?,?,?)",
                    (name, src, pd.title, pd.kind, pd.sha256, pd.size, len(chunks), now),
                )
                did = cur.lastrowid
                ids = []
                for k, c in enumerate(chunks):
                    cur = db.execute(
                        'INSERT INTO chunks(doc_id, ordinal, section, text, start, "end") VALUES(?,?,?,?,?,?)',
                        (did, k, c.section, c.text, c.start, c.end),
                    )
                    ids.append(cur.lastrowid)
                if pd.vectors.shape != (len(chunks), dim):
                    raise ValueError(f"{src}: {pd.vectors.shape} vectors for {len(chunks)} chunks")
                dense.add_with_ids(
                    np.ascontiguousarray(pd.vectors, dtype=np.float32),
                    np.array(ids, dtype=np.int64),
                )
                report.chunks_added += len(chunks)
                (report.updated if src in existing else report.added).append(src)
            if dim is not None:
                self._set_meta("dim", dim)
                self._set_meta("embedder", self.embedder_name)
            if self._count_chunks() > 0:
                bm, bm_ids = self._build_bm25()
            else:
                bm, bm_ids = None, np.zeros(0, dtype=np.int64)
            self._write_generation(dense, bm, bm_ids)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._loaded_gen = None
            self._dense = None
            with _LOADED_LOCK:
                _LOADED.pop(str(self.root.resolve()), None)
            raise
        self._drop_old_files()

    # ------------------------------------------------------------------ listing / removal

    def is_empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def list(self) -> list[dict]:
        """One dict per corpus: name, documents, chunks, bytes, updated_at, embedder."""
        rows = self._db.execute(
            "SELECT corpus, COUNT(*), SUM(n_chunks), SUM(size), MAX(updated_at) FROM documents"
            " GROUP BY corpus ORDER BY corpus"
        ).fetchall()
        return [
            {
                "name": r[0],
                "documents": int(r[1]),
                "chunks": int(r[2] or 0),
                "bytes": int(r[3] or 0),
                "updated_at": float(r[4] or 0.0),
                "embedder": self.embedder_name,
            }
            for r in rows
        ]

    def documents(self, name: str | None = None) -> list[dict]:
        """One dict per document (optionally of one corpus)."""
        q = "SELECT corpus, source, title, kind, sha256, size, n_chunks, updated_at FROM documents"
        args: tuple = ()
        if name:
            q += " WHERE corpus=?"
            args = (name,)
        return [dict(r) for r in self._db.execute(q + " ORDER BY corpus, source", args)]

    def remove(self, name_or_path: str | Path) -> int:
        """Remove a whole corpus by name, or documents by file or folder path.

        Returns the number of documents removed (0 when nothing matched).
        """
        key = str(name_or_path)
        with self._lock:
            self._ensure_loaded()
            ids = [
                r[0] for r in self._db.execute("SELECT id FROM documents WHERE corpus=?", (key,))
            ]
            if not ids:
                p = str(Path(key).expanduser().absolute())
                ids = [
                    r[0]
                    for r in self._db.execute(
                        "SELECT id FROM documents WHERE source=? OR source LIKE ? ESCAPE '\\'",
                        (p, _like_prefix(p.rstrip(os.sep) + os.sep)),
                    )
                ]
            if not ids:
                return 0
            self._apply("", [], ids, {}, IngestReport())
            return len(ids)

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: str,
        top_k: int = 5,
        *,
        mode: str = "hybrid",
        corpus: str | None = None,
        candidates: int | None = None,
        rerank: bool | None = None,
    ) -> list[Passage]:
        """Best passages for `query`. mode: "hybrid" (RRF of dense and BM25), "dense", "bm25".

        `score` is the fused RRF score (or the cross-encoder's score when a reranker is
        configured); `relevance` is always the cosine similarity of query and chunk.
        """
        if mode not in ("hybrid", "dense", "bm25"):
            raise ValueError(f"unknown search mode {mode!r} (hybrid, dense, bm25)")
        query = (query or "").strip()
        if not query or top_k <= 0:
            return []
        with self._lock:
            self._ensure_loaded()
            if self._dense is None or self._dense.ntotal == 0:
                return []
            n = int(self._dense.ntotal)
            use_rerank = (
                self._reranker is not None
                if rerank is None
                else (rerank and self._reranker is not None)
            )
            want = max(top_k, 20 if use_rerank else top_k)
            k = min(n, candidates or max(50, want * 4) * (4 if corpus else 1))
            qv = self._embedder.encode([query])
            lists: list[list[int]] = []
            dense_sim: dict[int, float] = {}
            if mode in ("hybrid", "dense"):
                sims, ids = self._dense.search(qv, k)
                dl = [int(i) for i in ids[0] if i >= 0]
                dense_sim = {
                    int(i): float(s) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0
                }
                lists.append(dl)
            if mode in ("hybrid", "bm25"):
                lists.append(self._bm25_search(query, k))
            fused: dict[int, float] = {}
            for lst in lists:
                for rank, cid in enumerate(lst):
                    fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
            order = sorted(fused, key=lambda c: -fused[c])
            meta = self._chunk_meta(order)
            if corpus:
                order = [c for c in order if c in meta and meta[c]["corpus"] == corpus]
            order = [c for c in order if c in meta][:want]
            out: list[Passage] = []
            for cid in order:
                m = meta[cid]
                rel = dense_sim.get(cid)
                if rel is None:
                    rel = float(np.dot(self._dense.reconstruct(cid), qv[0]))
                out.append(
                    Passage(
                        source=m["source"],
                        title=m["title"],
                        section=m["section"],
                        text=m["text"],
                        score=fused[cid],
                        relevance=max(-1.0, min(1.0, rel)),
                        corpus=m["corpus"],
                        chunk_id=cid,
                        start=m["start"],
                        end=m["end"],
                    )
                )
        if use_rerank and out:
            assert self._reranker is not None
            scores = self._reranker.score(query, [p.text for p in out])
            for p, s in zip(out, scores, strict=True):
                p.score = float(s)
            out.sort(key=lambda p: -p.score)
        return out[:top_k]

    def _bm25_search(self, query: str, k: int) -> list[int]:
        import bm25s

        if self._bm25 is None or self._bm25_ids is None or len(self._bm25_ids) == 0:
            return []
        toks = bm25s.tokenize(
            [query],
            stopwords="en",
            stemmer=self._bm25_stemmer,
            return_ids=False,
            show_progress=False,
        )[0]
        tids = self._bm25.get_tokens_ids(toks)
        if not tids:
            return []
        scores = self._bm25.get_scores_from_ids(tids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [int(self._bm25_ids[i]) for i in top if scores[i] > 0]

    def _chunk_meta(self, ids: list[int]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            q = (
                'SELECT c.id, c.section, c.text, c.start, c."end", d.source, d.title, d.corpus'
                f" FROM chunks c JOIN documents d ON d.id=c.doc_id WHERE c.id IN ({marks})"
            )
            for r in self._db.execute(q, part):
                out[int(r[0])] = dict(r)
        return out


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
