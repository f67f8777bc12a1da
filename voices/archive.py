"""Portable, checksummed archives of a library: `voices export` / `voices import-archive`.

Format `stepvox-voices/1`, an uncompressed tar of exactly:
  manifest.json              {"format", "speaker_space", "voices": [{"voice": {...fields},
                              "audio": "audio/<content hash>.flac", "sha256": <of that member>,
                              "embeddings": {space: hex of little-endian float32}}]}
  manifest.sha256            sha256 of manifest.json
  audio/<content hash>.flac  the normalized copy of each voice

An archive is untrusted input. Before anything is written, every member is checked: a regular
file (no links, devices, folders other than `audio`), a name of the form above (so no absolute
path and no `..`), a size under the limits, listed once; the manifest against its checksum
and field by field (content hash a sha256 hex digest, id = "v" + its first 11 digits,
attribute values, unit-norm finite embeddings of one dimension per space); each audio member
against its sha256, and decoded as FLAC with the rate and duration its entry states. Names in
the library come from the validated content hash, never from a member name. Then the new
voices are added with their ids, attributes and embeddings as archived (no model runs unless
the archive's speaker model differs from the library's), in one transaction under the
library's write lock, and the indexes are extended once.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import soundfile as sf

from core.audio import resample
from core.settings import private_dir
from voices.archive_reader import (
    ARCHIVE_FORMAT,
    Archive,
    ArchiveError,
    Entry,
    Limits,
    open_archive,
    sha256_hex,
)
from voices.audio import ANALYSIS_RATE
from voices.embedders import TEXT_DIM, TEXT_SPACE, ResemblyzerEmbedder
from voices.records import audio_rel, voice_record
from voices.textmatch import describe

if TYPE_CHECKING:
    from voices.library import VoiceLibrary

__all__ = ["ArchiveError", "export_archive", "import_archive"]


# -- export -------------------------------------------------------------------------------------
def export_archive(lib: VoiceLibrary, dest: Path) -> dict[str, Any]:
    """Write the archive (mode 0600, through a temp file renamed into place). Holds the write
    lock so that the rows and the audio files are one consistent state."""
    with lib.writing():
        voices, paths = [], {}
        spaces = (lib.speaker_space, TEXT_SPACE)
        vecs = {s: dict(zip(*lib.store.embeddings(s), strict=True)) for s in spaces}
        for row in lib.store.iter_rows():
            v = lib.voice_from_row(row)
            name = f"audio/{v.content_hash}.flac"
            paths[name] = Path(v.audio_path)
            embs = {
                s: vecs[s][row["rowid"]].astype("<f4").tobytes().hex()
                for s in spaces
                if row["rowid"] in vecs[s]
            }
            voices.append(
                {
                    "voice": v.model_dump(mode="json", exclude={"audio_path"}),
                    "audio": name,
                    "sha256": sha256_hex(paths[name].read_bytes()),
                    "embeddings": embs,
                }
            )
        manifest = json.dumps(
            {"format": ARCHIVE_FORMAT, "speaker_space": lib.speaker_space, "voices": voices},
            indent=1,
        ).encode()
        private_dir(dest.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w") as tar:
                for name, data in (
                    ("manifest.json", manifest),
                    ("manifest.sha256", sha256_hex(manifest).encode()),
                ):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                for name, path in paths.items():
                    info = tarfile.TarInfo(name)
                    info.size = path.stat().st_size
                    with open(path, "rb") as fa:
                        tar.addfile(info, fa)
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return {"archive": str(dest), "voices": len(voices), "bytes": dest.stat().st_size}


# -- import ---------------------------------------------------------------------------------------
def _write_private(dest: Path, data: bytes) -> None:
    """Atomic write (temp file 0600 in the same folder, fsync, rename)."""
    private_dir(dest.parent)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=dest.suffix, dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _known_dim(lib: VoiceLibrary, space: str) -> int | None:
    """The dimension vectors of `space` must have in this library (None: not known without
    loading a model)."""
    row = lib.store.db.execute(
        "SELECT length(vec) FROM embeddings WHERE space=? LIMIT 1", (space,)
    ).fetchone()
    if row:
        return int(row[0]) // 4
    return {TEXT_SPACE: TEXT_DIM, "speaker:resemblyzer": ResemblyzerEmbedder.dim}.get(space)


def _fill_embeddings(lib: VoiceLibrary, arc: Archive, entries: list[Entry]) -> None:
    """Check the archived vectors fit this library; compute the ones it lacks (another speaker
    model, an old archive) from the archived audio and attributes."""
    for space in (lib.speaker_space, TEXT_SPACE):
        want = _known_dim(lib, space)
        got = {e.embeddings[space].size for e in entries if space in e.embeddings}
        if want is not None and got - {want}:
            raise arc.fail(f"{space} embeddings have {got.pop()} dimensions, this library {want}")
    for e in entries:
        if lib.speaker_space not in e.embeddings:
            # checked by open_archive: FLAC of at most its entry's duration and 2 channels
            y, sr = sf.read(io.BytesIO(arc.audio(e)), dtype="float32")
            y = y.mean(axis=1) if y.ndim > 1 else y
            e.embeddings[lib.speaker_space] = lib.speaker_embedder.embed(
                resample(y, sr, ANALYSIS_RATE)
            )
        if TEXT_SPACE not in e.embeddings:
            e.embeddings[TEXT_SPACE] = lib.text_embedder.encode([describe(e.voice.attributes())])[0]


def import_archive(lib: VoiceLibrary, src: Path, limits: Limits | None = None) -> dict[str, Any]:
    """Validate the whole archive, then add the voices not already present (same content hash)
    with their archived ids, attributes and embeddings, in one transaction."""
    with open_archive(Path(src), limits) as arc:
        if arc.speaker_space != lib.speaker_space:  # archived speaker vectors are of no use here
            for e in arc.entries:
                e.embeddings.pop(arc.speaker_space, None)
        new = [e for e in arc.entries if not lib.store.has_hash(e.voice.content_hash)]
        _fill_embeddings(lib, arc, new)  # normally nothing to compute
        added, failed = [], []
        with lib.writing():  # from here on, what is checked is current
            todo = []
            for e in new:
                row = lib.store.row("content_hash=? OR id=?", (e.voice.content_hash, e.voice.id))
                if row is None:
                    todo.append(e)
                elif row["content_hash"] != e.voice.content_hash:
                    failed.append(
                        {"id": e.voice.id, "reason": f"id {e.voice.id} is used by another voice"}
                    )
            if todo:
                lib.writer.writing_files()
            for e in todo:
                _write_private(lib.root / audio_rel(e.voice.content_hash), arc.audio(e))
            with lib.store.tx() as db:
                for e in todo:
                    lib.store.insert_voice(db, voice_record(e.voice), e.embeddings)
            added = [{"id": e.voice.id, "name": e.voice.name} for e in todo]
            for space in (lib.speaker_space, TEXT_SPACE):
                lib.indexes.ensure(space)  # extended once from SQLite
            lib.flush()
    return {
        "archive": str(src),
        "added": added,
        "already_present": len(arc.entries) - len(added) - len(failed),
        "failed": failed,
        "total": lib.count(),
    }
