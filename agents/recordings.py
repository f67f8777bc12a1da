"""A conversation's recordings: where they live, written privately, found again by thread.

Every recording a turn makes is kept in its thread's own directory,
`<home>/audio/<thread id>.<8 hex of the id's SHA-256>/` (0700; the hash keeps two ids that
differ only in case apart on a case-insensitive file system): the user's input as 16 kHz
WAV named by content hash (`in-<sha>.wav`), its silence-trimmed copy (`in-<sha>-vad.wav`),
and, when the caller names no output file, the spoken reply (`reply-<id>.wav`). Files are
written 0600 under a temporary name and renamed into place, so a kill never leaves a
truncated file under a name a later turn would trust.

Versions before this one wrote every recording straight into `<home>/audio/`; the inputs
among them are still found through the `AudioPart`s of the thread's messages (`referenced`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from agents.messages import from_langchain
from core.audio import resample, to_mono
from core.settings import private_dir
from model.messages import AudioPart


def thread_dir_name(thread_id: str) -> str:
    return f"{thread_id}.{hashlib.sha256(thread_id.encode()).hexdigest()[:8]}"


def thread_of_dir(name: str) -> str | None:
    """The thread id a recordings directory belongs to, or None when it is not one."""
    thread_id, dot, _ = name.rpartition(".")
    return thread_id if dot and thread_dir_name(thread_id) == name else None


def thread_audio_dir(audio_dir: Path, thread_id: str, *, create: bool = True) -> Path:
    """The thread's recordings directory (`thread_id` must be a checked id)."""
    path = Path(audio_dir) / thread_dir_name(thread_id)
    return private_dir(path) if create else path


def write_wav(path: str | Path, samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    """Write a WAV file 0600, atomically (a temporary name in the same directory, renamed)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            sf.write(f, samples, rate, subtype=subtype, format="WAV")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def tree_size(path: Path) -> int:
    """Bytes of the files under `path` (0 when it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def referenced(messages: Iterable[Any], audio_dir: Path) -> set[Path]:
    """Recordings left by earlier versions directly in `audio_dir` that `messages` refer to
    (each trimmed copy's original too)."""
    root = Path(audio_dir).resolve()
    out: set[Path] = set()
    for m in messages:
        if getattr(m, "type", None) != "human":
            continue
        for part in from_langchain(m).parts_of(AudioPart):
            p = Path(part.path)
            for f in (p, p.with_name(p.name.replace("-vad.wav", ".wav"))):
                if f.parent.resolve() == root:
                    out.add(f)
    return out


def remove(paths: Iterable[Path]) -> int:
    """Delete files and directory trees; the bytes freed."""
    freed = 0
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            freed += tree_size(p)
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            freed += p.lstat().st_size
            p.unlink(missing_ok=True)
    return freed


def store_input(samples: np.ndarray, sample_rate: int, where: Path) -> tuple[str, float]:
    """A turn's input audio as 16 kHz mono float WAV in the thread's directory, named by its
    content (the same audio is stored once); (path, seconds)."""
    samples = resample(to_mono(np.asarray(samples, dtype=np.float32)), sample_rate, 16000)
    digest = hashlib.sha256(samples.tobytes()).hexdigest()[:20]
    path = Path(where) / f"in-{digest}.wav"
    if not path.exists():  # written whole or not at all (write_wav renames into place)
        write_wav(path, samples, 16000, subtype="FLOAT")
    return str(path), len(samples) / 16000
