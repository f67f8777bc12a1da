"""`POST /api/corpus` bodies: multipart `files`, streamed to a private directory as they arrive.

Nothing is held in memory beyond one chunk of the request: each file part is written straight
to `<dir>/<name>` (a fresh 0700 directory per request, files 0600). The whole body is limited to
`max_bytes` — refused up front by its Content-Length, else as soon as the bytes read pass it —
and the caller removes the directory when it is done, whatever happened.

Refusals raise `UploadError(status, message)`: 413 too large, 415 not multipart, 400 for a bad
body or file name. File names are the browser's base name: a name with a path separator, a
control character, a leading dot or `..` is refused, never rewritten.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from core.settings import private_dir

# a malformed body is answered with its reason (400); the parser need not also log it
logging.getLogger("python_multipart.multipart").setLevel(logging.ERROR)

FIELD = "files"
MAX_FILES = 100
MAX_NAME_BYTES = 200
MAX_HEADER_BYTES = 16 * 1024


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def safe_name(raw: str) -> str:
    """The upload's file name if it is a plain base name; UploadError otherwise."""
    shown = repr(raw[:80])
    if not raw or not raw.strip():
        raise UploadError(400, "a file has no name")
    if "/" in raw or "\\" in raw or raw in (".", "..") or raw.startswith("."):
        raise UploadError(400, f"{shown}: not a plain file name (no paths, no leading dot)")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise UploadError(400, f"{shown}: control characters in the file name")
    if len(raw.encode("utf-8", "replace")) > MAX_NAME_BYTES:
        raise UploadError(400, f"{shown}: file name longer than {MAX_NAME_BYTES} bytes")
    return raw


def request_dir(base: Path) -> Path:
    """A fresh private directory (0700) for one request's files, under `base` (made 0700)."""
    return Path(tempfile.mkdtemp(prefix="req-", dir=private_dir(base)))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def sweep(base: Path, older_than_s: float = 3600.0) -> int:
    """Remove request directories a killed server left under `base` (older than an hour, so a
    second server on the same home keeps the uploads it is indexing). Returns how many."""
    if not base.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    gone = 0
    for d in base.glob("req-*"):
        try:
            if d.is_dir() and d.stat().st_mtime < cutoff:
                remove(d)
                gone += 1
        except OSError:
            pass
    return gone


def _limit_text(max_bytes: int) -> str:
    mb = max_bytes / (1024 * 1024)
    return f"upload larger than {mb:g} MB (STEPVOX_MAX_UPLOAD_MB)"


class _Receiver:
    """python-multipart callbacks writing each file part to its own 0600 file."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.files: list[Path] = []
        self._fd: int | None = None
        self._header_name = b""
        self._header_value = b""
        self._header_bytes = 0
        self._disposition = b""
        self._size = 0
        self.in_part = False
        self.ended = False  # the closing boundary was read

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._header_bytes = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._count_header(end - start)

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            raise UploadError(400, "bad multipart body: part headers too long")

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._disposition)
        field = opts.get(b"name", b"").decode("utf-8", "replace")
        if field != FIELD:
            raise UploadError(400, f"unexpected form field {field[:40]!r} (send the documents as {FIELD!r})")
        if b"filename" not in opts:
            raise UploadError(400, f"field {FIELD!r} must carry files, not text")
        try:
            raw = opts[b"filename"].decode("utf-8")
        except UnicodeDecodeError:
            raise UploadError(400, "a file name is not UTF-8") from None
        name = safe_name(raw)
        if len(self.files) >= MAX_FILES:
            raise UploadError(400, f"more than {MAX_FILES} files in one upload")
        path = self.dest / name
        if path in self.files:
            raise UploadError(400, f"{name!r}: the same file name twice in one upload")
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # two names one file on a case-insensitive file system
            raise UploadError(400, f"{name!r}: the same file name twice in one upload") from None
        self.in_part = True
        self._size = 0
        self.files.append(path)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._fd is None:
            return
        view = memoryview(data)[start:end]
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += end - start

    def on_part_end(self) -> None:
        self.in_part = False
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._size == 0:
                raise UploadError(400, f"{self.files[-1].name!r}: empty file")

    def on_end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def check_headers(headers, max_bytes: int) -> bytes:
    """The multipart boundary, after refusing a wrong content type or a declared size too big."""
    ctype = headers.get("content-type", "")
    kind, opts = parse_options_header(ctype)
    if kind != b"multipart/form-data":
        raise UploadError(415, f"expected multipart/form-data with {FIELD!r}, got {ctype[:60]!r}")
    boundary = opts.get(b"boundary")
    if not boundary:
        raise UploadError(400, "bad multipart body: no boundary in Content-Type")
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise UploadError(400, f"bad Content-Length {length[:20]!r}")
        if int(length) > max_bytes:
            raise UploadError(413, _limit_text(max_bytes))
    return boundary


async def receive_files(
    headers, stream: AsyncIterator[bytes], dest: Path, max_bytes: int
) -> list[Path]:
    """Write the request's `files` parts into `dest`; their paths, in order."""
    boundary = check_headers(headers, max_bytes)
    rx = _Receiver(dest)
    callbacks = {
        k: getattr(rx, k)
        for k in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_end",
        )
    }
    parser = python_multipart.MultipartParser(boundary, callbacks)
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > max_bytes:
                raise UploadError(413, _limit_text(max_bytes))
            parser.write(chunk)
        parser.finalize()
        if rx.in_part or not rx.ended:
            raise UploadError(400, "bad multipart body: it ends before its closing boundary")
    except FormParserError as e:
        raise UploadError(400, f"bad multipart body ({str(e).splitlines()[0][:80]})") from None
    finally:
        rx.close()
    if not rx.files:
        raise UploadError(400, f"no files in the upload (send them as {FIELD!r})")
    return rx.files
