"""Crafted voice archives for the tests: read a real one, change it the way an attacker or a
damaged disk would, write it back (with a matching manifest checksum unless told otherwise)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, {member name: bytes}) of an archive written by `voices export`."""
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    return json.loads(members["manifest.json"]), members


def member(name: str, data: bytes = b"", kind: str = "file", link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = {
        "file": tarfile.REGTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "chr": tarfile.CHRTYPE,
        "dir": tarfile.DIRTYPE,
    }[kind]
    info.size = len(data) if kind == "file" else 0
    info.linkname = link
    return info


def write(dest: Path, items: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in items:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return dest


def craft(
    src: Path,
    dest: Path,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    extra: list[tuple[tarfile.TarInfo, bytes]] = (),
    replace: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
    rehash: bool = True,
) -> Path:
    """A copy of `src` with the manifest changed in place by `manifest`, members replaced or
    dropped, `extra` members added; the manifest's checksum recomputed when `rehash`."""
    man, members = read(src)
    if manifest:
        manifest(man)
        members["manifest.json"] = json.dumps(man).encode()
    members.update(replace or {})
    if rehash:
        members["manifest.sha256"] = hashlib.sha256(members["manifest.json"]).hexdigest().encode()
    items = [(member(n, d), d) for n, d in members.items() if n not in drop]
    return write(dest, items + list(extra))
