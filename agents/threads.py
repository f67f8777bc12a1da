"""Conversations (threads) of one home: their checkpoints, recordings and turn locks.

`ThreadStore(home, checkpointer=...)` keeps the checkpoints where `agents.persistence` says:
by default `<home>/conversations.sqlite` (0600, WAL; LangGraph's `SqliteSaver`), or a
PostgreSQL database (`postgresql://...`, LangGraph's `PostgresSaver`), or a checkpointer object
the caller gives. It reads and deletes them through the checkpointer API, and owns, per thread:

- the turn lock: one turn of a conversation at a time, across threads *and processes* (the
  CLI, the server, a library user), a `filelock` per thread under `<home>/locks/`. A second
  turn waits up to `wait_s` (STEPVOX_TURN_WAIT_S) and is then refused with `ThreadBusy`.
  The lock is a file under home, whatever the checkpointer: hosts that share one PostgreSQL
  database do not see each other's locks (docs/persistence.md);
- `head`/`rollback` (a failed turn leaves the conversation as it was);
- `list()` (id, turns, last activity, bytes of recordings), `delete(id)` (its checkpoints and
  its recordings, `agents.recordings`), and `prune(seconds)` (every conversation idle longer).

Thread ids name directories, so they are checked (`check_thread_id`): 1-128 of letters,
digits, `_ . @ -`, starting with a letter, digit or `_`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from agents.approval import waiting_in
from agents.messages import from_langchain
from agents.persistence import Backend, open_backend
from agents.recordings import referenced, remove, thread_audio_dir, thread_of_dir, tree_size
from core.settings import private_dir
from core.thread_ids import shown, thread_id_problem


class ThreadError(ValueError):
    """A thread id that is not valid, or names no conversation. One line; bad input."""

    exit_code = 2


class ThreadBusy(RuntimeError):
    """Another turn holds the conversation longer than the wait allows. One line."""

    exit_code = 1


def check_thread_id(thread_id: Any) -> str:
    """`thread_id` when it is a valid thread id, else ThreadError naming the problem."""
    problem = thread_id_problem(thread_id)
    if problem:
        raise ThreadError(f"thread id {shown(thread_id if isinstance(thread_id, str) else '')}: {problem}")
    return thread_id


@dataclass
class ThreadInfo:
    id: str
    turns: int
    last_activity: datetime | None
    audio_bytes: int
    waiting: dict[str, Any] | None = None  # what it is paused for (a Waiting dump), if anything

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["last_activity"] = self.last_activity.isoformat() if self.last_activity else None
        return d


class ThreadStore:
    def __init__(self, home: str | Path, *, wait_s: float = 120.0, checkpointer: Any = None) -> None:
        """`checkpointer`: None or "sqlite" (the file under home), a postgresql:// URL, or a
        LangGraph checkpointer object (used as it is, never closed here); an opened
        `agents.persistence.Backend` is taken over (closed with this store)."""
        home = private_dir(Path(home))
        self.audio_dir = private_dir(home / "audio")
        self.lock_dir = private_dir(home / "locks")
        self.backend: Backend = (checkpointer if isinstance(checkpointer, Backend)
                                 else open_backend(checkpointer, home))
        self.saver = self.backend.saver
        self.wait_s = wait_s
        self._local: dict[str, threading.Lock] = {}
        self._local_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> ThreadStore:
        return cls(settings.home, wait_s=settings.turn_wait_s, checkpointer=settings.checkpointer)

    def close(self) -> None:
        self.backend.close()

    # -- one turn at a time ---------------------------------------------------------------
    @contextmanager
    def lock(self, thread_id: str, wait_s: float | None = None) -> Iterator[None]:
        """Hold the conversation (threads of this process first, then other processes)."""
        wait = self.wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait
        with self._local_lock:
            local = self._local.setdefault(thread_id, threading.Lock())
        if not local.acquire(timeout=wait):
            raise self._busy(thread_id, wait)
        try:
            name = hashlib.sha256(thread_id.encode()).hexdigest()[:32]
            flock = filelock.FileLock(self.lock_dir / f"{name}.lock", mode=0o600)
            try:
                flock.acquire(timeout=max(0.0, deadline - time.monotonic()), poll_interval=0.05)
            except filelock.Timeout:
                raise self._busy(thread_id, wait) from None
            try:
                yield
            finally:
                flock.release()
        finally:
            local.release()

    @staticmethod
    def _busy(thread_id: str, wait: float) -> ThreadBusy:
        return ThreadBusy(f"thread {thread_id!r} is busy: another turn on it did not finish within "
                          f"{wait:g} s (STEPVOX_TURN_WAIT_S); try again later")

    # -- what is stored ---------------------------------------------------------------------
    def _latest(self, thread_id: str) -> Any:
        return self.saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})

    def head(self, thread_id: str) -> str | None:
        """The id of the thread's latest checkpoint (None: no conversation yet)."""
        tup = self._latest(thread_id)
        return tup.config["configurable"]["checkpoint_id"] if tup else None

    def rollback(self, thread_id: str, head: str | None) -> None:
        """Forget every checkpoint of the thread written after `head` (all when None), in one
        transaction: a failed turn leaves the conversation exactly as it was."""
        self.backend.rollback(thread_id, head)

    def messages(self, thread_id: str) -> list[Any]:
        tup = self._latest(thread_id)
        return list(tup.checkpoint["channel_values"].get("messages", [])) if tup else []

    def _checkpointed(self) -> list[str]:
        return self.backend.thread_ids()

    def _audio_dirs(self) -> dict[str, Path]:
        return {t: p for p in self.audio_dir.iterdir() if p.is_dir()
                if (t := thread_of_dir(p.name)) is not None}

    def ids(self) -> list[str]:
        return sorted(set(self._checkpointed()) | set(self._audio_dirs()))

    def _recordings(self, thread_id: str, messages: list[Any], others: set[Path]) -> list[Path]:
        """The thread's recordings: its directory, and older ones only its messages refer to."""
        own = [p for p in referenced(messages, self.audio_dir) if p not in others]
        if thread_id_problem(thread_id) is None:
            own.append(thread_audio_dir(self.audio_dir, thread_id, create=False))
        return own

    def info(self, thread_id: str, others: set[Path] | None = None) -> ThreadInfo:
        tup = self._latest(thread_id)
        messages = list(tup.checkpoint["channel_values"].get("messages", [])) if tup else []
        if tup is not None:
            last = datetime.fromisoformat(tup.checkpoint["ts"])
        else:
            d = thread_audio_dir(self.audio_dir, thread_id, create=False)
            last = datetime.fromtimestamp(d.stat().st_mtime, UTC) if d.exists() else None
        files = self._recordings(thread_id, messages, others or set())
        waiting = waiting_in(self.saver, thread_id) if tup is not None else None
        return ThreadInfo(id=thread_id, turns=sum(m.type == "human" for m in messages),
                          last_activity=last, audio_bytes=sum(tree_size(p) for p in files),
                          waiting=waiting.model_dump(mode="json") if waiting else None)

    def show(self, thread_id: str) -> dict[str, Any]:
        """A conversation as plain data: its messages (role, text, tool calls, results) and
        what it waits for. ThreadError when there is no such conversation."""
        check_thread_id(thread_id)
        if self._latest(thread_id) is None:
            raise ThreadError(f"thread {shown(thread_id)}: no such conversation")
        out = []
        for m in map(from_langchain, self.messages(thread_id)):
            d: dict[str, Any] = {"role": m.role, "text": m.text}
            if m.tool_calls:
                d["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments}
                                   for c in m.tool_calls]
            out.append(d)
        waiting = waiting_in(self.saver, thread_id)
        return {"id": thread_id, "messages": out,
                "waiting": waiting.model_dump(mode="json") if waiting else None}

    def list(self) -> list[ThreadInfo]:
        """Every conversation, the most recently active first."""
        infos = [self.info(t) for t in self.ids()]
        epoch = datetime.fromtimestamp(0, UTC)
        return sorted(infos, key=lambda i: (i.last_activity or epoch, i.id), reverse=True)

    # -- forgetting ---------------------------------------------------------------------------
    def _referenced_by_others(self, thread_ids: set[str]) -> set[Path]:
        out: set[Path] = set()
        for t in self._checkpointed():
            if t not in thread_ids:
                out |= referenced(self.messages(t), self.audio_dir)
        return out

    def delete(self, thread_id: str, *, wait_s: float | None = None) -> ThreadInfo:
        """Delete a conversation: its checkpoints, then its recordings. ThreadError when
        there is no such conversation; ThreadBusy when a turn holds it."""
        if thread_id not in self.ids():
            check_thread_id(thread_id)  # a malformed id: say what is wrong with it
            raise ThreadError(f"thread {shown(thread_id)}: no such conversation")
        with self.lock(thread_id, wait_s):
            return self._delete(thread_id, self._referenced_by_others({thread_id}))

    def _delete(self, thread_id: str, others: set[Path]) -> ThreadInfo:
        info = self.info(thread_id, others)
        files = self._recordings(thread_id, self.messages(thread_id), others)
        self.backend.delete(thread_id)  # its checkpoints and writes, one transaction
        remove(files)
        return info

    def prune(self, older_than_s: float, *, now: datetime | None = None) -> list[ThreadInfo]:
        """Delete every conversation idle for longer than `older_than_s` (a conversation whose
        turn is running is not idle: it is skipped)."""
        cutoff = (now or datetime.now(UTC)).timestamp() - older_than_s
        # a conversation paused for a person is not finished: it is kept until answered
        old = [i for i in (self.info(t) for t in self.ids())
               if i.last_activity is not None and i.last_activity.timestamp() < cutoff
               and i.waiting is None]
        others = self._referenced_by_others({i.id for i in old})
        gone = []
        for i in old:
            try:
                with self.lock(i.id, wait_s=0):
                    # a turn may have finished since the listing: look again under the lock
                    last = self.info(i.id).last_activity
                    if last is None or last.timestamp() >= cutoff:
                        continue
                    gone.append(self._delete(i.id, others))
            except ThreadBusy:
                continue
        return gone
