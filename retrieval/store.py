"""CorpusStore: ingest files into named corpora and search them (dense + BM25, fused).

On disk, under `root` (normally $STEPVOX_HOME/corpora, 0700):

    corpus.sqlite          documents and chunks, plus meta (embedder, dimension, generation)
    dense-<gen>.faiss      FAISS IndexIDMap2(IndexFlatIP), ids = the SQLite chunk ids
    bm25-<gen>/            the bm25s index and the chunk id of each of its rows
    writer.lock            held by the one process writing (retrieval.writer_lock)

One writer at a time: it takes the writer lock, reads the committed generation, writes the
next generation's files (retrieval.index_files), commits rows and generation number in one
SQLite transaction, then deletes older files. Readers reload when the generation moved; an
interrupted write leaves the committed generation as it was.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.settings import private_dir
from retrieval import database as sql
from retrieval import index_files
from retrieval.chunking import DEFAULT_MAX_CHARS, DEFAULT_OVERLAP
from retrieval.embedding import DEFAULT_EMBEDDER, Reranker, TextEmbedder, get_text_embedder
from retrieval.index_files import Indexes, IndexFilesMissing
from retrieval.ingest import (
    PendingDocument,
    absolute,
    check_corpus_name,
    collect,
    may_write,
    prepare,
)
from retrieval.loaders import DEFAULT_MAX_FILE_BYTES, SkipFile
from retrieval.search import MODES
from retrieval.search import search as search_indexes
from retrieval.types import IngestReport, Passage
from retrieval.writer_lock import WriterLock

Progress = Callable[[int, int, str], None]
__all__ = ["CorpusStore", "PendingDocument", "Progress"]


class CorpusStore:
    """Named text corpora under one root, searched together (or by corpus name).

    Opening is cheap: the embedding model loads on the first add or search. Any number of
    handles, in any number of processes, may read and write one root.
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
        try:
            private_dir(self.root)
            self._db = sql.open_db(self.root)
        except (OSError, sqlite3.Error) as e:
            why = getattr(e, "strerror", None) or str(e)
            raise ValueError(f"{self.root}: cannot open the corpus store ({why})") from None
        self.max_chars = max_chars
        self.overlap = overlap
        self.max_file_bytes = max_file_bytes
        self._lock = threading.RLock()  # this handle's connection and loaded indexes
        self._writer = WriterLock(self.root)
        stored = sql.get_meta(self._db, "embedder")
        if stored and embedder and embedder != stored and sql.count_chunks(self._db) > 0:
            raise ValueError(
                f"{self.root}: corpus index was built with embedder {stored!r}, not {embedder!r}; "
                "use that embedder, or remove the corpora and add them again"
            )
        self.embedder_name = embedder or stored or DEFAULT_EMBEDDER
        # the process-wide embedder for this model (shared with every other store and user)
        self._embedder = get_text_embedder(self.embedder_name)
        self._embed_batch_size = embed_batch_size
        self.reranker_name = reranker or None
        self._reranker = Reranker(self.reranker_name) if self.reranker_name else None
        self._ix: Indexes | None = None

    @property
    def embedder(self) -> TextEmbedder:
        return self._embedder

    def _generation(self) -> int:
        return sql.generation(self._db)

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

    def _chunk_texts(self) -> tuple[list[int], list[str]]:
        return sql.chunk_texts(self._db)

    def _indexes(self) -> Indexes:
        """The committed generation's indexes, reloaded when another handle or process has
        committed a newer one since (one SELECT when nothing changed)."""
        for _ in range(20):
            gen = self._generation()
            if self._ix is not None and self._ix.gen == gen:
                return self._ix
            if sql.count_chunks(self._db) == 0 and self._generation() == gen:
                self._ix = index_files.empty(gen)
                return self._ix
            try:
                self._ix = index_files.load(self.root, gen, self._chunk_texts)
                return self._ix
            except IndexFilesMissing:
                if self._generation() != gen:
                    continue  # a writer committed meanwhile and removed these files: reload
                with self._writer.hold():
                    return self._indexes_for_writing()
        raise RuntimeError(f"{self.root}: the index generation keeps changing; try again")

    def _indexes_for_writing(self) -> Indexes:
        """Under the writer lock: the committed indexes, rebuilt from SQLite when their
        files are lost or damaged."""
        gen = self._generation()
        if self._ix is not None and self._ix.gen == gen:
            return self._ix
        if sql.count_chunks(self._db) == 0:
            self._ix = index_files.empty(gen)
            return self._ix
        try:
            self._ix = index_files.load(self.root, gen, self._chunk_texts)
        except IndexFilesMissing:
            self._rebuild_indexes()
            assert self._ix is not None
        return self._ix

    def _commit_indexes(self, dense: Any) -> None:
        """Under the writer lock, inside the open transaction: BM25 over the rows as they
        now are, both indexes written as the next generation, its number recorded. The
        caller commits."""
        gen = self._generation() + 1
        ids, texts = self._chunk_texts()
        if not ids:
            ix = index_files.empty(gen)
        else:
            bm, bm_ids, stemmer = index_files.build_bm25(ids, texts)
            ix = Indexes(gen, dense, bm, bm_ids, stemmer)
        index_files.write(self.root, ix)
        sql.set_meta(self._db, "generation", gen)
        self._ix = ix

    def _transaction(self, body: Callable[[], Any]) -> Any:
        """Run body() and the index commit as one SQLite transaction (writer lock held)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            out = body()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._ix = None
            raise
        assert self._ix is not None
        index_files.remember(self.root, self._ix)
        index_files.drop_others(self.root, self._ix.gen)
        return out

    def _rebuild_indexes(self) -> None:
        """Re-embed every chunk from SQLite (after lost index files). Writer lock held."""
        ids, texts = self._chunk_texts()
        dense = index_files.new_dense(self._embedder.dim)
        for i in range(0, len(ids), 1024):
            vecs = self._embed_chunks(texts[i : i + 1024])
            dense.add_with_ids(vecs, np.array(ids[i : i + 1024], dtype=np.int64))
        self._transaction(lambda: self._commit_indexes(dense))

    def rebuild(self, embeddings: bool = True) -> int:
        """Rebuild the indexes from the stored chunks; returns the chunk count.

        With embeddings=False only BM25 is rebuilt (e.g. after installing PyStemmer) and
        the dense vectors are kept.
        """
        with self._lock, self._writer.hold():
            if embeddings:
                self._rebuild_indexes()
            else:
                ix = self._indexes_for_writing()
                if ix.dense is not None:
                    self._transaction(lambda: self._commit_indexes(ix.dense))
            return sql.count_chunks(self._db)

    # ------------------------------------------------------------------ ingest

    def add(
        self,
        paths: list[Path] | list[str] | Path | str,
        name: str = "default",
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest files and folders into corpus `name`, incrementally by content hash.

        New files are added, changed ones re-indexed, unchanged ones left alone; files
        that were indexed under a given folder (or named directly) and no longer exist
        are removed. Bad input is skipped with a reason. Files are read and embedded
        before the writer lock is taken; what to write is decided under it, against the
        committed state.
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        name = check_corpus_name(name)
        t0 = time.perf_counter()
        report = IngestReport(corpus=name)
        found = collect(paths)
        with self._lock:
            known = {s: r["sha256"] for s, r in sql.documents_of(self._db, name).items()}
        ready: dict[str, PendingDocument | str] = {}  # source -> document, or unchanged sha
        skipped: dict[str, str] = {}
        for i, fp in enumerate(found.files, start=1):
            try:
                ready[str(fp)] = self._prepare(fp, found.explicit, known.get(str(fp)))
            except SkipFile as e:
                skipped[str(fp)] = str(e)
            if progress:
                progress(i, len(found.files), str(fp))
        if not may_write(found, ready, skipped, known):  # nothing new, changed or gone
            report.unchanged = list(ready)
            report.skipped = [*skipped.items()] + [(str(p), "no such file or directory") for p in found.missing]
            report.seconds = time.perf_counter() - t0
            return report
        with self._lock, self._writer.hold():
            existing = sql.documents_of(self._db, name)
            pending: list[PendingDocument] = []
            remove_ids: list[int] = []
            for src, got in ready.items():
                old = existing.get(src)
                sha = got if isinstance(got, str) else got.sha256
                if old is not None and old["sha256"] == sha:
                    report.unchanged.append(src)
                    continue
                if isinstance(got, str):  # changed by another writer since it was hashed
                    try:
                        got = self._prepare(Path(src), found.explicit, None)
                    except SkipFile as e:
                        skipped[src] = str(e)
                        continue
                pending.append(got)
            for src, reason in skipped.items():
                report.skipped.append((src, reason))
                if src in existing:  # stale content must not stay searchable
                    remove_ids.append(existing[src]["id"])
                    report.removed.append(src)
            # deleted files: indexed under a walked folder, or named directly, and gone
            for p in found.missing:
                if str(p) in existing:
                    remove_ids.append(existing[str(p)]["id"])
                    report.removed.append(str(p))
                else:
                    report.skipped.append((str(p), "no such file or directory"))
            for src, row in existing.items():
                if src in ready or src in skipped:
                    continue
                under = any(src.startswith(str(d) + os.sep) for d in found.dirs)
                if under and not os.path.exists(src):
                    remove_ids.append(row["id"])
                    report.removed.append(src)
            if pending or remove_ids:
                self._apply(name, pending, remove_ids, existing, report)
        report.seconds = time.perf_counter() - t0
        return report

    def _prepare(self, fp: Path, explicit: set[Path], known_sha: str | None) -> Any:
        return prepare(
            fp, explicit=fp in explicit, known_sha=known_sha, max_bytes=self.max_file_bytes,
            max_chars=self.max_chars, overlap=self.overlap, embed=self._embed_chunks,
        )  # fmt: skip

    def add_embedded(self, documents: list[PendingDocument], name: str = "default") -> IngestReport:
        """Add documents whose chunks are already embedded (by this store's model, e.g.
        on another machine). Replaces documents with the same source in `name`."""
        name = check_corpus_name(name)
        t0 = time.perf_counter()
        report = IngestReport(corpus=name)
        with self._lock, self._writer.hold():
            if documents:
                existing = sql.documents_of(self._db, name)
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
        """Write embedded documents and removals to SQLite + indexes as one new generation.
        Writer lock held; `existing` read under it."""
        db = self._db
        dim = pending[0].vectors.shape[1] if pending else None
        stored_dim = sql.get_meta(db, "dim")
        if dim is not None and stored_dim and int(stored_dim) != dim and sql.count_chunks(db) > 0:
            raise ValueError(
                f"{self.root}: embedding size {dim} differs from the index's {stored_dim}"
            )
        for pd in pending:
            if pd.vectors.shape != (len(pd.chunks), dim):
                raise ValueError(f"{pd.source}: {pd.vectors.shape} vectors for {len(pd.chunks)} chunks")
        current = self._indexes_for_writing()
        if current.dense is None:
            dense = index_files.new_dense(dim or int(stored_dim or self._embedder.dim))
        else:
            dense = index_files.clone_dense(current.dense)

        def body() -> None:
            drop_docs = list(remove_doc_ids)
            drop_docs += [existing[pd.source]["id"] for pd in pending if pd.source in existing]
            drop_chunks: list[int] = []
            for did in drop_docs:
                drop_chunks += [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id=?", (did,))]
                db.execute("DELETE FROM chunks WHERE doc_id=?", (did,))
                db.execute("DELETE FROM documents WHERE id=?", (did,))
            if drop_chunks:
                dense.remove_ids(np.array(drop_chunks, dtype=np.int64))
            report.chunks_removed = len(drop_chunks)
            now = time.time()
            for pd in pending:
                cur = db.execute(
                    "INSERT INTO documents(corpus, source, title, kind, sha256, size, n_chunks, updated_at)"
                    " VALUES(?,?,?,?,?,?,?,?)",
                    (name, pd.source, pd.title, pd.kind, pd.sha256, pd.size, len(pd.chunks), now),
                )
                did = cur.lastrowid
                ids = [
                    db.execute(
                        'INSERT INTO chunks(doc_id, ordinal, section, text, start, "end") VALUES(?,?,?,?,?,?)',
                        (did, k, c.section, c.text, c.start, c.end),
                    ).lastrowid
                    for k, c in enumerate(pd.chunks)
                ]
                dense.add_with_ids(
                    np.ascontiguousarray(pd.vectors, dtype=np.float32), np.array(ids, dtype=np.int64)
                )
                report.chunks_added += len(pd.chunks)
                (report.updated if pd.source in existing else report.added).append(pd.source)
            if dim is not None:
                sql.set_meta(db, "dim", dim)
                sql.set_meta(db, "embedder", self.embedder_name)
            self._commit_indexes(dense)

        self._transaction(body)

    # ------------------------------------------------------------------ listing / removal

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None

    def list(self) -> list[dict]:
        """One dict per corpus: name, documents, chunks, bytes, updated_at, embedder."""
        with self._lock:
            rows = sql.corpora(self._db)
        return [{**r, "embedder": self.embedder_name} for r in rows]

    def documents(self, name: str | None = None) -> list[dict]:
        """One dict per document (optionally of one corpus)."""
        with self._lock:
            return sql.documents(self._db, name)

    def remove(self, name_or_path: str | Path) -> int:
        """Remove a whole corpus by name, or documents by path: the document with exactly
        that path, or every document in the folder with that path (whole path components:
        /a/b never removes /a/bc.txt). Returns the number removed (0 when nothing matched).
        An empty target or the filesystem root is refused (ValueError)."""
        key = str(name_or_path)
        if not key.strip():
            raise ValueError("remove: empty name or path")
        p = absolute(key)
        with self._lock:
            if not self._matching(key, p):
                return 0  # nothing to write: no lock taken
            with self._writer.hold():
                ids = self._matching(key, p)  # again, against the committed state
                if ids:
                    self._apply("", [], ids, {}, IngestReport())
                return len(ids)

    def _matching(self, key: str, p: Path) -> list[int]:
        ids = [r[0] for r in self._db.execute("SELECT id FROM documents WHERE corpus=?", (key,))]
        if ids:
            return ids
        if p.parent == p:
            raise ValueError(
                f"{key}: refusing to remove every document under the filesystem root; "
                "name a corpus, a file or a folder"
            )
        return sql.ids_under_path(self._db, str(p))

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
        Every search first checks the committed generation and follows other writers.
        """
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r} (hybrid, dense, bm25)")
        query = (query or "").strip()
        if not query or top_k <= 0:
            return []
        reranker = self._reranker if rerank is None or rerank else None
        with self._lock:
            ix = self._indexes()
            return search_indexes(
                self._db, ix, self._embedder, query, top_k,
                mode=mode, corpus=corpus, candidates=candidates, reranker=reranker,
            )  # fmt: skip
