"""Import every audio file under a folder into a library: resumable, one voice per commit.

Files already imported are skipped by a ledger of (path, size, mtime), then by content hash;
a bad file is skipped with its reason. Each file is decoded, measured and embedded without the
library's write lock; the lock is held only for the commit (duplicate and same-speaker checks
against the current state, the audio copy, one transaction), so several importers into one
library interleave and none of them loses or doubles a voice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voices.audio import AUDIO_EXTENSIONS, AudioError
from voices.enroll import read_clip
from voices.records import DuplicateVoice
from voices.schema import Voice

if TYPE_CHECKING:
    from voices.library import VoiceLibrary


def audio_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
    )


def import_dir(
    lib: VoiceLibrary,
    folder: Path,
    progress: Callable[[int, int, str], None] | None,
    same_speaker_threshold: float,
    tags: list[str] | None,
    checkpoint_every: int,
    on_added: Callable[[Voice], None] | None,
) -> dict[str, Any]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    files = audio_files(folder)
    report: dict[str, Any] = {
        "folder": str(folder.resolve()),
        "files": len(files),
        "added": [],
        "already_imported": 0,
        "duplicates": [],
        "failed": [],
        "same_speaker": [],
    }

    def duplicate(f: Path, existing: Voice) -> None:
        report["duplicates"].append({"path": str(f), "id": existing.id, "name": existing.name})

    for i, f in enumerate(files):
        if progress:
            progress(i, len(files), f.name)
        try:
            st = f.stat()
            key = str(f.resolve())
            known = lib.store.source_hash(key, st.st_size, st.st_mtime)
            if known and lib.store.has_hash(known):
                report["already_imported"] += 1
                continue
            clip = read_clip(f)
            if lib.store.has_hash(clip.hash):
                duplicate(f, lib.voice_from_row(lib.store.row("content_hash=?", (clip.hash,))))
                continue
            enrolled = lib.enroll(clip, f.stem, tags or [], "", {})
            with lib.writing():
                voice, nearest = lib.commit(
                    enrolled, f, (key, st.st_size, st.st_mtime), same_speaker_threshold
                )
                if (len(report["added"]) + 1) % checkpoint_every == 0:
                    lib.indexes.persist(force=True)
        except DuplicateVoice as e:  # another process stored the same audio meanwhile
            duplicate(f, e.existing)
            continue
        except (AudioError, ValueError, RuntimeError, OSError) as e:
            msg = str(e)
            report["failed"].append(
                {"path": str(f), "reason": msg if str(f) in msg else f"{f}: {msg}"}
            )
            continue
        report["added"].append({"id": voice.id, "name": voice.name, "path": str(f)})
        if on_added:
            on_added(voice)
        if nearest:
            other = lib.store.row("rowid=?", (nearest[0],))
            if other is not None:
                report["same_speaker"].append(
                    {
                        "id": voice.id,
                        "path": str(f),
                        "similar_to": other["id"],
                        "similar_name": other["name"],
                        "score": round(nearest[1], 4),
                    }
                )
    if progress:
        progress(len(files), len(files), "")
    lib.flush()
    report["total"] = lib.count()
    return report
