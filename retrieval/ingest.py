"""Turning paths into documents ready to write: walk folders, read and hash each file,
parse, chunk and embed what changed. None of it touches the store's state, so it runs
before the writer lock is taken (embedding is the slow part of an add)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.chunking import Chunk, chunk_document
from retrieval.database import embed_text
from retrieval.loaders import SUPPORTED_SUFFIXES, SkipFile, parse_bytes, read_bytes

_CORPUS_NAME = re.compile(r"^\w[\w.\-]{0,63}$")


def check_corpus_name(name: str) -> str:
    """`name` if it is a corpus name (1-64 letters, digits, `_`, `.`, `-`; not starting with
    `.` or `-`), else ValueError naming it."""
    if not isinstance(name, str) or not _CORPUS_NAME.match(name):
        raise ValueError(
            f"corpus name {name!r}: expected 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


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


@dataclass
class Collected:
    files: list[Path]  # every file to consider, in walk order
    dirs: list[Path]  # folders walked
    missing: list[Path]  # explicit paths that do not exist
    explicit: set[Path]  # the paths as given (absolute)


def absolute(path: Path | str) -> Path:
    """The form a document's source is stored in (absolute, `~` expanded, not resolved)."""
    return Path(path).expanduser().absolute()


def collect(paths: Iterable[Path | str]) -> Collected:
    """Files under the given paths (folders walked recursively, hidden names skipped)."""
    out = Collected([], [], [], set())
    seen: set[Path] = set()
    for raw in paths:
        p = absolute(raw)
        out.explicit.add(p)
        if p.is_dir():
            out.dirs.append(p)
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for fn in sorted(filenames):
                    fp = Path(dirpath) / fn
                    if not fn.startswith(".") and fp not in seen:
                        seen.add(fp)
                        out.files.append(fp)
        elif p.exists() or p.is_symlink():
            if p not in seen:
                seen.add(p)
                out.files.append(p)
        else:
            out.missing.append(p)
    return out


Embed = Callable[[list[str]], np.ndarray]


def prepare(
    fp: Path,
    *,
    explicit: bool,
    known_sha: str | None,
    max_bytes: int,
    max_chars: int,
    overlap: int,
    embed: Embed,
) -> PendingDocument | str:
    """The file's sha256 when it equals `known_sha` (unchanged), else the embedded document.
    Raises SkipFile with the reason for bad input."""
    if not explicit and fp.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise SkipFile(f"unsupported file type {fp.suffix or '(no suffix)'}")
    data = read_bytes(fp, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    if digest == known_sha:
        return digest
    doc = parse_bytes(data, fp)
    chunks = chunk_document(doc, max_chars, overlap)
    if not chunks:
        raise SkipFile("no text found")
    vecs = embed([embed_text(doc.title, c.section, c.text) for c in chunks])
    return PendingDocument(str(fp), doc.title, doc.kind, digest, len(data), chunks, vecs)


def may_write(
    found: Collected, ready: dict[str, PendingDocument | str], skipped: dict[str, str], known: dict[str, str]
) -> bool:
    """Whether an add has anything to write, judged from the state read before the lock:
    a new or changed file, a stored document now bad input or gone."""
    if any(not isinstance(got, str) for got in ready.values()):
        return True
    if any(src in known for src in skipped) or any(str(p) in known for p in found.missing):
        return True
    dirs = [str(d) + os.sep for d in found.dirs]
    return any(
        src not in ready and src.startswith(tuple(dirs)) and not os.path.exists(src)
        for src in known
    )
