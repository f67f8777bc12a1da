"""Helpers for the voice library tests: the CLI in this process, a digest of a library."""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`stepvox ARGS` through assistant.cli.main in this process (models stay loaded between
    calls; exit code and streams as a real run sees them)."""
    from assistant.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["stepvox", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def library_digest(root: Path) -> str:
    """What a library holds: its database's logical content, and every other file by name and
    content (the lock file and SQLite's WAL/shm files aside)."""
    h = hashlib.sha256()
    db = sqlite3.connect(f"file:{root / 'library.sqlite'}?mode=ro", uri=True)
    try:
        for line in db.iterdump():
            h.update(line.encode())
    finally:
        db.close()
    skip = {"library.sqlite", "library.sqlite-wal", "library.sqlite-shm", ".lock"}
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.name not in skip:
            h.update(str(f.relative_to(root)).encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()
