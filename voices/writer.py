"""One writer at a time per voice library, across processes, and recovery after a killed writer.

The lock is an fcntl lock (`filelock`) on `<root>/.lock`. A writer takes it before it reads the
state it is about to change (duplicate check by content hash, the database generation, the
in-memory indexes) and holds it until its commit and index save, so two `voices import` /
`voices add` processes never act on each other's stale view. Readers take no lock: SQLite WAL
gives them a consistent snapshot and the indexes follow the database generation.

Before a writer writes or deletes audio files it creates the marker `<root>/.writing`, and
removes it when its hold ends normally. Finding the marker when taking the lock means the
previous writer died mid-write (SIGKILL, power loss) or failed with an exception: audio copies
that no committed row points to, and temp files, are swept before anything else happens.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_TIMEOUT_S = 300.0  # a writer waits this long for another process's write to finish
LOCK_NAME = ".lock"
MARKER_NAME = ".writing"


class LibraryBusy(RuntimeError):
    """Another process held the library's write lock for longer than the timeout."""


def touch_private(path: Path) -> None:
    """Create `path` (mode 0600) if it does not exist."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class WriterLock:
    def __init__(
        self, root: Path, sweep: Callable[[], int], timeout: float = LOCK_TIMEOUT_S
    ) -> None:
        self.root = root
        self.timeout = timeout
        self._sweep = sweep
        self._marker = root / MARKER_NAME
        self._lock = FileLock(
            root / LOCK_NAME, timeout=timeout, mode=0o600, preserve_lock_file=True
        )
        self._local = threading.local()  # the lock is re-entrant per thread

    @property
    def held(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def _interrupted(self) -> bool:
        # `.writer-PID` markers: what the previous version left behind a killed writer
        return self._marker.exists() or any(self.root.glob(".writer-*"))

    @contextmanager
    def _held(self, timeout: float) -> Iterator[bool]:
        try:
            self._lock.acquire(timeout=timeout)
        except (Timeout, OSError) as e:
            if timeout <= 0:  # busy, or a read-only library: the caller goes on without it
                yield False
                return
            if isinstance(e, OSError):
                raise
            raise LibraryBusy(
                f"{self.root}: another process is writing to this voice library "
                f"(waited {timeout:.0f} s)"
            ) from None
        depth = getattr(self._local, "depth", 0)
        ok = False
        try:
            if depth == 0:
                self._local.marked = False
                if self._interrupted():
                    self._sweep()
                    for m in self.root.glob(".writer-*"):
                        m.unlink(missing_ok=True)
                    self._marker.unlink(missing_ok=True)
            self._local.depth = depth + 1
            yield True
            ok = True
        finally:
            self._local.depth = depth
            if depth == 0 and ok and self._local.marked:
                self._marker.unlink(missing_ok=True)
            self._lock.release()

    def writing_files(self) -> None:
        """Call (holding the lock) before writing or deleting audio files: until this hold
        ends normally, the marker says a sweep is due if the process dies."""
        assert self.held, "writing library files without the write lock"
        if not self._local.marked:
            touch_private(self._marker)
            self._local.marked = True

    def hold(self) -> AbstractContextManager[bool]:
        """Hold the write lock (waiting up to the timeout; LibraryBusy after it)."""
        return self._held(self.timeout)

    def try_hold(self) -> AbstractContextManager[bool]:
        """Hold the lock only if it is free now; yields whether it is held."""
        return self._held(0 if not self.held else self.timeout)

    def recover(self) -> bool:
        """On open: sweep after a killed writer if no one is writing now. True if it swept."""
        if not self._interrupted():
            return False
        with self.try_hold() as held:
            return held
