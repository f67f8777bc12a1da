"""Where conversations (LangGraph checkpoints) and long-term memory (a LangGraph store) live.

`open_backend(checkpointer, home)` takes what the `checkpointer` setting or argument names:

    None or "sqlite"      `SqliteSaver` on `<home>/conversations.sqlite` (0600, WAL)
    "postgresql://..."    `PostgresSaver` (langgraph-checkpoint-postgres) on a psycopg pool
    a checkpointer object the caller's own; used as it is and never closed here

and returns a `Backend`: the saver, plus the two things `ThreadStore` needs that LangGraph's
checkpointer API has no call for: the ids of every stored thread, and forgetting the
checkpoints a failed turn wrote after a given one (`rollback`). Everything else goes through
the checkpointer API (`get_tuple`, `delete_thread`), so `ThreadStore` is one implementation
for every backend.

`Backend.open_store()` is the long-term memory that goes with it: `PostgresStore` on the
same pool for a PostgreSQL URL, else `SqliteStore` on `<home>/memory.sqlite`.

A server that cannot be reached is `BackendUnavailable` (one line naming the setting; the
CLI exits 2), after at most `CONNECT_TIMEOUT_S`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import filelock
from langgraph.checkpoint.base import BaseCheckpointSaver, create_checkpoint
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.base import BaseStore
from langgraph.store.sqlite import SqliteStore

from core.settings import private_dir, without_password

CONNECT_TIMEOUT_S = 5
POOL_SIZE = 8  # connections at most, shared by the checkpointer and the store
SETUP_LOCK = 0x5354_4550_564F_58  # pg_advisory_lock key: one process sets the tables up at a time


class BackendUnavailable(RuntimeError):
    """The checkpointer's database cannot be used (a server down, refused credentials). One
    line naming the setting; bad configuration, so the CLI exits 2."""

    exit_code = 2


def open_private_sqlite(path: Path, *, autocommit: bool = False) -> sqlite3.Connection:
    """A connection to a SQLite file that only its owner can read (0600, with its -wal/-shm)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    kw: dict[str, Any] = {"isolation_level": None} if autocommit else {}
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30, **kw)
    conn.execute("PRAGMA journal_mode=WAL")
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            os.chmod(p, 0o600)  # files from earlier versions were created 0644
    return conn


class Backend:
    """A checkpointer any LangGraph user could hand us (an in-memory one, a Redis one...):
    thread ids come from its `list`; a failed turn is undone by saving a copy of the
    checkpoint it started from as the thread's latest (LangGraph's own fork), the failed
    one staying behind it in the thread's history."""

    kind = "custom"

    def __init__(self, saver: BaseCheckpointSaver, home: Path, close: Callable[[], None] | None = None):
        self.saver = saver
        self.home = home
        self._close = close

    def thread_ids(self) -> list[str]:
        return sorted({t.config["configurable"]["thread_id"] for t in self.saver.list(None)})

    def delete(self, thread_id: str) -> None:
        """Every checkpoint and write of the thread."""
        self.saver.delete_thread(thread_id)

    def rollback(self, thread_id: str, head: str | None) -> None:
        if head is None:
            self.delete(thread_id)
            return
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": head}}
        saved = self.saver.get_tuple(config)
        if saved is None:
            return
        latest = self.saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
        if latest is not None and latest.config["configurable"]["checkpoint_id"] == head:
            return  # nothing was written after it
        step = saved.metadata.get("step", -1)
        parent = saved.parent_config or {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        self.saver.put(parent, create_checkpoint(saved.checkpoint, None, step),
                       {"source": "fork", "step": step + 1, "parents": saved.metadata.get("parents", {})}, {})

    def open_store(self) -> tuple[BaseStore, Callable[[], None]]:
        """Long-term memory: SQLite under home (a store and the function that closes it)."""
        conn = open_private_sqlite(self.home / "memory.sqlite", autocommit=True)
        store = SqliteStore(conn)
        # its migrations are not safe against another process running them at the same time
        # (UNIQUE constraint failed: store_migrations.v): one process at a time sets it up
        lock = private_dir(self.home / "locks") / "memory-setup.lock"
        with filelock.FileLock(lock, mode=0o600):
            store.setup()
        return store, conn.close

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None


class SqliteBackend(Backend):
    kind = "sqlite"

    def thread_ids(self) -> list[str]:
        with self.saver.cursor(transaction=False) as cur:
            return sorted(r[0] for r in cur.execute("SELECT DISTINCT thread_id FROM checkpoints"))

    def rollback(self, thread_id: str, head: str | None) -> None:
        """Forget every checkpoint of the thread written after `head` (all when None), in one
        transaction. (Checkpoint ids sort by time; SqliteSaver finds the latest the same way.)"""
        with self.saver.cursor() as cur:
            for table in ("checkpoints", "writes"):
                cur.execute(f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id > ?",
                            (thread_id, head or ""))


# A failed turn's checkpoints, their pending writes, and the channel values (blobs) that no
# checkpoint kept still refers to; one transaction (LangGraph's PostgresSaver.prune does the same).
_PG_ROLLBACK_WRITES = "DELETE FROM checkpoint_writes WHERE thread_id = %s AND checkpoint_id > %s"
_PG_ROLLBACK_CHECKPOINTS = """
WITH deleted AS (
    DELETE FROM checkpoints WHERE thread_id = %s AND checkpoint_id > %s
    RETURNING checkpoint_ns, checkpoint -> 'channel_versions' AS versions
)
SELECT DISTINCT d.checkpoint_ns, v.key AS channel, v.value AS version
FROM deleted d CROSS JOIN LATERAL jsonb_each_text(d.versions) AS v
"""
_PG_REFERENCED = """
SELECT DISTINCT c.checkpoint_ns, v.key AS channel, v.value AS version
FROM checkpoints c CROSS JOIN LATERAL jsonb_each_text(c.checkpoint -> 'channel_versions') AS v
WHERE c.thread_id = %s
"""
_PG_DELETE_BLOB = """
DELETE FROM checkpoint_blobs
WHERE thread_id = %s AND checkpoint_ns = %s AND channel = %s AND version = %s
"""


class PostgresBackend(Backend):
    kind = "postgres"

    def _connection(self):
        from langgraph.checkpoint.postgres import _internal

        return _internal.get_connection(self.saver.conn)

    def thread_ids(self) -> list[str]:
        with self.saver.lock, self._connection() as conn:
            rows = conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
        return sorted(r["thread_id"] if isinstance(r, dict) else r[0] for r in rows)

    def delete(self, thread_id: str) -> None:
        """Checkpoints, writes and blobs in one transaction (delete_thread is three)."""
        self.saver.prune([thread_id], strategy="delete")

    def rollback(self, thread_id: str, head: str | None) -> None:
        head = head or ""
        with self.saver.lock, self._connection() as conn, conn.transaction():
            conn.execute(_PG_ROLLBACK_WRITES, (thread_id, head))
            freed = conn.execute(_PG_ROLLBACK_CHECKPOINTS, (thread_id, head)).fetchall()
            if not freed:
                return
            kept = {tuple(_row(r)) for r in conn.execute(_PG_REFERENCED, (thread_id,)).fetchall()}
            for ns, channel, version in {tuple(_row(r)) for r in freed} - kept:
                conn.execute(_PG_DELETE_BLOB, (thread_id, ns, channel, version))

    def open_store(self) -> tuple[BaseStore, Callable[[], None]]:
        """Long-term memory in the same database, on the same pool (when the pool is ours)."""
        from langgraph.store.postgres import PostgresStore
        from psycopg_pool import ConnectionPool

        if self._close is None or not isinstance(self.saver.conn, ConnectionPool):
            return super().open_store()  # the caller's saver: its connection stays theirs
        store = PostgresStore(self.saver.conn)
        _setup_postgres(self.saver.conn, store.setup)
        return store, lambda: None  # the pool closes with the backend


def _row(r: Any) -> tuple[Any, ...]:
    return tuple(r.values()) if isinstance(r, dict) else tuple(r)


def _setup_postgres(pool: Any, setup: Callable[[], None]) -> None:
    """Create or migrate tables, one process at a time (two first starts at once would race
    on CREATE TABLE)."""
    with pool.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        try:
            setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))


def _unavailable(url: str, problem: str) -> BackendUnavailable:
    first = " ".join(problem.strip().splitlines()[0].split()) if problem.strip() else "failed"
    return BackendUnavailable(
        f"setting STEPVOX_CHECKPOINTER = {without_password(url)!r}: cannot use the database: {first}"
    )


def connect_postgres(url: str) -> PostgresBackend:
    """A PostgresSaver on a pool of at most POOL_SIZE connections, its tables set up.
    BackendUnavailable (one line) when the server cannot be reached within CONNECT_TIMEOUT_S
    or refuses us."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as e:
        raise _unavailable(url, f"not a valid connection URL ({e})") from None
    timeout = int(params.get("connect_timeout") or CONNECT_TIMEOUT_S)
    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row, "connect_timeout": timeout}
    try:  # one plain connection first: its error says why (the pool's would only time out)
        psycopg.connect(url, **kwargs).close()
    except psycopg.Error as e:
        raise _unavailable(url, str(e)) from None
    pool = ConnectionPool(url, kwargs=kwargs, min_size=1, max_size=POOL_SIZE, open=False,
                          check=ConnectionPool.check_connection, name="stepvox")
    try:
        pool.open(wait=True, timeout=timeout + 1)
        saver = PostgresSaver(pool)
        _setup_postgres(pool, saver.setup)
    except Exception as e:  # noqa: BLE001 - psycopg's and the pool's errors: one line
        pool.close()
        raise _unavailable(url, str(e) or type(e).__name__) from None
    return PostgresBackend(saver, Path(), close=pool.close)


def open_backend(checkpointer: Any, home: str | Path) -> Backend:
    """The backend for a `checkpointer` setting value or a checkpointer object (see above)."""
    home = Path(home)
    if checkpointer is None or checkpointer == "sqlite":
        conn = open_private_sqlite(home / "conversations.sqlite")
        saver = SqliteSaver(conn)
        saver.setup()
        return SqliteBackend(saver, home, close=conn.close)
    if isinstance(checkpointer, str):
        if checkpointer.startswith(("postgresql://", "postgres://")):
            backend = connect_postgres(checkpointer)
            backend.home = home
            return backend
        raise BackendUnavailable(
            f"checkpointer {without_password(checkpointer)!r}: expected `sqlite`, a postgresql:// URL "
            "or a LangGraph checkpointer object"
        )
    if not isinstance(checkpointer, BaseCheckpointSaver):
        raise TypeError(f"checkpointer: expected a LangGraph checkpointer (BaseCheckpointSaver), "
                        f"`sqlite` or a postgresql:// URL, not {type(checkpointer).__name__}")
    if isinstance(checkpointer, SqliteSaver):
        return SqliteBackend(checkpointer, home)
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
    except ImportError:  # pragma: no cover - a declared dependency
        PostgresSaver = ()  # type: ignore[assignment]  # noqa: N806
    if isinstance(checkpointer, PostgresSaver):
        return PostgresBackend(checkpointer, home)
    return Backend(checkpointer, home)
