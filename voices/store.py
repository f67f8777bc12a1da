"""SQLite metadata store: the library's source of truth (voices, embeddings, import ledger).

WAL mode: readers keep working while an import writes. Every change bumps `gen` in the same
transaction, so an index file knows whether it is behind; deletions also bump `del_gen`
(an index that missed a deletion is rebuilt instead of extended).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS voices (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_lc TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    language TEXT, gender TEXT, gender_source TEXT NOT NULL DEFAULT 'estimated',
    age_band TEXT, style TEXT, source TEXT, license TEXT,
    audio_file TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    duration_s REAL NOT NULL, sample_rate INTEGER NOT NULL,
    median_f0_hz REAL, speaking_rate REAL,
    quality TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS voices_name ON voices(name_lc);
CREATE TABLE IF NOT EXISTS embeddings (
    voice_rowid INTEGER NOT NULL REFERENCES voices(rowid) ON DELETE CASCADE,
    space TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (voice_rowid, space)
);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL, content_hash TEXT NOT NULL
);
"""

VOICE_COLUMNS = (
    "id name description tags language gender gender_source age_band style source license "
    "audio_file content_hash duration_s sample_rate median_f0_hz speaking_rate quality extra "
    "created updated"
).split()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def private_files(db_path: Path) -> None:
    """The database and its WAL/shm files: mode 0600 (created so when missing; SQLite gives the
    -wal and -shm files the mode of the database file)."""
    if not db_path.exists():
        os.close(os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600))
    for suffix in ("", "-wal", "-shm"):
        f = Path(str(db_path) + suffix)
        try:
            if f.exists() and f.stat().st_mode & 0o077:
                os.chmod(f, 0o600)
        except OSError:  # not ours to change (a read-only library): leave it
            pass


class Store:
    def __init__(self, path: Path):
        self.path = path
        private_files(path)
        self.db = sqlite3.connect(
            str(path), timeout=60.0, check_same_thread=False, isolation_level=None
        )
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout=60000")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        have = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if have and self.get_meta("schema_version") == str(SCHEMA_VERSION):
            return  # existing library: opening it writes nothing
        with self.tx() as db:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?), ('gen', '0'), ('del_gen', '0')",
                (str(SCHEMA_VERSION),),
            )

    # -- transactions -----------------------------------------------------------------------
    class _Tx:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, et, ev, tb):
            self.db.execute("COMMIT" if et is None else "ROLLBACK")
            return False

    def tx(self) -> _Tx:
        return Store._Tx(self.db)

    def close(self) -> None:
        self.db.close()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def gens(self) -> tuple[int, int]:
        rows = dict(
            self.db.execute("SELECT key, value FROM meta WHERE key IN ('gen','del_gen')").fetchall()
        )
        return int(rows.get("gen", 0)), int(rows.get("del_gen", 0))

    def bump(self, db: sqlite3.Connection, deleted: bool = False) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='gen'")
        if deleted:
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='del_gen'")

    # -- voices -----------------------------------------------------------------------------
    def insert_voice(
        self, db: sqlite3.Connection, rec: dict[str, Any], embeddings: dict[str, np.ndarray]
    ) -> int:
        vals = [rec[c] for c in VOICE_COLUMNS]
        cur = db.execute(
            f"INSERT INTO voices ({', '.join(VOICE_COLUMNS)}, name_lc) VALUES ({', '.join('?' * (len(VOICE_COLUMNS) + 1))})",
            [*vals, rec["name"].lower()],
        )
        rowid = int(cur.lastrowid)
        for space, vec in embeddings.items():
            self.put_embedding(db, rowid, space, vec)
        self.bump(db)
        return rowid

    def put_embedding(
        self, db: sqlite3.Connection, rowid: int, space: str, vec: np.ndarray
    ) -> None:
        db.execute(
            "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
            (rowid, space, np.asarray(vec, dtype="<f4").tobytes()),
        )

    def row(self, where: str, args: Iterable[Any]) -> sqlite3.Row | None:
        return self.db.execute(f"SELECT * FROM voices WHERE {where}", tuple(args)).fetchone()

    def rows(
        self, where: str = "1", args: Iterable[Any] = (), order: str = "rowid"
    ) -> list[sqlite3.Row]:
        return self.db.execute(
            f"SELECT * FROM voices WHERE {where} ORDER BY {order}", tuple(args)
        ).fetchall()

    def has_hash(self, content_hash: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM voices WHERE content_hash=?", (content_hash,)).fetchone()
            is not None
        )

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM voices").fetchone()[0])

    def embeddings(
        self, space: str, min_rowid: int = 0, rowids: list[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rowids int64[n], vecs float32[n, d]) for one space."""
        if rowids is not None:
            out_ids, out_vecs = [], []
            for i in range(0, len(rowids), 900):
                chunk = rowids[i : i + 900]
                q = f"SELECT voice_rowid, vec FROM embeddings WHERE space=? AND voice_rowid IN ({','.join('?' * len(chunk))})"
                for rid, blob in self.db.execute(q, (space, *chunk)):
                    out_ids.append(rid)
                    out_vecs.append(np.frombuffer(blob, dtype="<f4"))
            ids = np.asarray(out_ids, dtype=np.int64)
            return ids, (np.stack(out_vecs) if out_vecs else np.zeros((0, 0), np.float32))
        cur = self.db.execute(
            "SELECT voice_rowid, vec FROM embeddings WHERE space=? AND voice_rowid > ? ORDER BY voice_rowid",
            (space, min_rowid),
        )
        ids, vecs = [], []
        for rid, blob in cur:
            ids.append(rid)
            vecs.append(np.frombuffer(blob, dtype="<f4"))
        return np.asarray(ids, dtype=np.int64), (
            np.stack(vecs) if vecs else np.zeros((0, 0), np.float32)
        )

    def missing_embeddings(self, space: str) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM voices v WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.voice_rowid=v.rowid AND e.space=?)",
            (space,),
        ).fetchall()

    def iter_rows(self) -> Iterator[sqlite3.Row]:
        yield from self.db.execute("SELECT * FROM voices ORDER BY rowid")

    # -- import ledger ----------------------------------------------------------------------
    def source_hash(self, path: str, size: int, mtime: float) -> str | None:
        row = self.db.execute(
            "SELECT size, mtime, content_hash FROM sources WHERE path=?", (path,)
        ).fetchone()
        if row and row[0] == size and abs(row[1] - mtime) < 1e-6:
            return row[2]
        return None

    def put_source(
        self, db: sqlite3.Connection, path: str, size: int, mtime: float, h: str
    ) -> None:
        db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?)", (path, size, mtime, h))


def dumps(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True)
