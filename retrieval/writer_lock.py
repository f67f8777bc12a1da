"""One writer at a time per corpus store, across threads and processes.

A writer holds an exclusive `flock` on `<root>/writer.lock` (through `filelock`) from
before it reads the committed state until after it has committed its generation, so no
writer ever builds on an index another one is replacing. The kernel releases the lock
when its holder exits, also by kill -9. Readers never take it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

LOCK_NAME = "writer.lock"


class WriterLock:
    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._thread_lock = threading.RLock()
        # the file stays (waiters share its inode); no soft-lock fallback, which a kill -9 would leave held
        self._file_lock = FileLock(str(self.path), mode=0o600, preserve_lock_file=True)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Block until this is the store's only writer; reentrant in one thread."""
        with self._thread_lock, self._file_lock:
            yield
