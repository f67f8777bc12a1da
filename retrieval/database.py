"""The corpus store's SQLite file: schema, meta values and chunk rows.

`corpus.sqlite` holds the documents and their chunks (source, title, section, offsets,
text) and `meta` (embedder, dimension, generation). It is created 0600 (SQLite gives its
-wal and -shm files the same mode) and opened in WAL mode, so readers never block the
one writer.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

DB_NAME = "corpus.sqlite"

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


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist; make an existing one 0600."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask, or an older store's 0644
    finally:
        os.close(fd)


def open_db(root: Path) -> sqlite3.Connection:
    """Open (creating) root/corpus.sqlite: WAL, foreign keys, the schema, private modes."""
    path = root / DB_NAME
    private_file(path)
    for side in ("-wal", "-shm"):
        if (root / (DB_NAME + side)).exists():
            os.chmod(root / (DB_NAME + side), 0o600)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=60)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='documents_corpus'").fetchone() is None:
        db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")  # all of it or none
    return db


def get_meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
    db.execute(
        "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        (key, str(value)),
    )


def generation(db: sqlite3.Connection) -> int:
    """The committed generation: the index files that match the committed rows."""
    return int(get_meta(db, "generation") or 0)


def count_chunks(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def embed_text(title: str, section: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: `title > section`, newline, text."""
    head = " > ".join(p for p in (title, section) if p)
    return f"{head}\n{text}" if head else text


def chunk_texts(db: sqlite3.Connection) -> tuple[list[int], list[str]]:
    """(chunk ids, their embed_text) for every stored chunk, in id order."""
    rows = db.execute(
        "SELECT c.id, d.title, c.section, c.text FROM chunks c JOIN documents d ON d.id=c.doc_id"
        " ORDER BY c.id"
    ).fetchall()
    return [int(r[0]) for r in rows], [embed_text(r[1], r[2], r[3]) for r in rows]


def documents_of(db: sqlite3.Connection, corpus: str) -> dict[str, sqlite3.Row]:
    """source -> (id, source, sha256, n_chunks) of every document in `corpus`."""
    rows = db.execute(
        "SELECT id, source, sha256, n_chunks FROM documents WHERE corpus=?", (corpus,)
    )
    return {r["source"]: r for r in rows}


def chunk_meta(db: sqlite3.Connection, ids: list[int]) -> dict[int, dict]:
    """chunk id -> section, text, start, end, source, title, corpus (ids no longer stored are
    absent)."""
    out: dict[int, dict] = {}
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        marks = ",".join("?" * len(part))
        q = (
            'SELECT c.id, c.section, c.text, c.start, c."end", d.source, d.title, d.corpus'
            f" FROM chunks c JOIN documents d ON d.id=c.doc_id WHERE c.id IN ({marks})"
        )
        for r in db.execute(q, part):
            out[int(r[0])] = dict(r)
    return out


def ids_under_path(db: sqlite3.Connection, path: str, sep: str = os.sep) -> list[int]:
    """Documents whose source is `path`, or lies under the folder `path` (whole path
    components: /a/b matches /a/b and /a/b/c.txt, never /a/bc.txt). Compared by exact,
    case-sensitive prefix (no LIKE: its wildcards and case folding do not apply)."""
    prefix = path.rstrip(sep) + sep
    rows = db.execute(
        "SELECT id FROM documents WHERE source=? OR substr(source, 1, ?)=?",
        (path, len(prefix), prefix),
    )
    return [int(r[0]) for r in rows]


def corpora(db: sqlite3.Connection) -> list[dict]:
    """One dict per corpus: name, documents, chunks, bytes, updated_at."""
    rows = db.execute(
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
        }
        for r in rows
    ]


def documents(db: sqlite3.Connection, corpus: str | None = None) -> list[dict]:
    """One dict per document (optionally of one corpus), by corpus and source."""
    q = "SELECT corpus, source, title, kind, sha256, size, n_chunks, updated_at FROM documents"
    args: tuple = ()
    if corpus:
        q += " WHERE corpus=?"
        args = (corpus,)
    return [dict(r) for r in db.execute(q + " ORDER BY corpus, source", args)]
