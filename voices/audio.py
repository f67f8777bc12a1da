"""Decode, validate and normalize voice clips; store them by content hash."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from core import audio as core_audio
from core.audio import resample
from core.settings import private_dir

#: rate the embedders and the analysis work at
ANALYSIS_RATE = 16000
MIN_SECONDS = 0.5
MAX_SECONDS = 600.0
MAX_STORE_RATE = 48000
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".aiff", ".aif"}


class AudioError(ValueError):
    """A clip that cannot be used; str(e) names the file and the problem."""


def load_audio(path: str | Path) -> tuple[np.ndarray, int, float]:
    """Decode a file to mono float32. Returns (samples, rate, clipping_ratio of the source)."""
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{p}: no such file")
    try:
        # libsndfile, FFmpeg for what it lacks (m4a, ...); the length limit is checked while decoding
        data, sr = core_audio.decode(p, max_seconds=MAX_SECONDS)
    except core_audio.AudioTooLongError as e:
        raise AudioError(f"{p}: {e.seconds:.0f} s is too long (max {MAX_SECONDS:.0f} s)") from None
    except core_audio.AudioDecodeError as e:
        raise AudioError(
            f"{p}: cannot decode audio (unsupported format or damaged file: {e.reason})"
        ) from None
    if data.size == 0:
        raise AudioError(f"{p}: empty audio")
    if not np.all(np.isfinite(data)):
        raise AudioError(f"{p}: audio contains NaN or infinite samples")
    clipping = float(np.mean(np.abs(data) >= 0.999))
    y = core_audio.to_mono(data)
    dur = len(y) / sr
    if sr < 8000:
        raise AudioError(f"{p}: sample rate {sr} Hz is below 8000 Hz")
    if dur < MIN_SECONDS:
        raise AudioError(f"{p}: {dur:.2f} s is too short (need >= {MIN_SECONDS} s)")
    if dur > MAX_SECONDS:
        raise AudioError(f"{p}: {dur:.0f} s is too long (max {MAX_SECONDS:.0f} s)")
    if float(np.max(np.abs(y))) < 1e-4:
        raise AudioError(f"{p}: audio is silent")
    return y, int(sr), clipping


def content_hash(y: np.ndarray, sr: int) -> str:
    """sha256 of the decoded mono PCM (16-bit) and its rate: equal audio in any container matches."""
    pcm = np.clip(np.round(y * 32767.0), -32768, 32767).astype("<i2")
    h = hashlib.sha256()
    h.update(str(sr).encode())
    h.update(pcm.tobytes())
    return h.hexdigest()


def normalize(y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """Trim leading/trailing silence, cap the rate, level to -20 dBFS active RMS (peak <= -1 dBFS)."""
    import librosa

    if sr > MAX_STORE_RATE:
        y, sr = resample(y, sr, MAX_STORE_RATE), MAX_STORE_RATE
    _, (a, b) = librosa.effects.trim(y, top_db=45, frame_length=1024, hop_length=256)
    pad = int(0.1 * sr)
    y = y[max(0, a - pad) : min(len(y), b + pad)]
    frame = max(1, int(0.02 * sr))
    n = len(y) // frame
    if n:
        rms = np.sqrt(np.mean(y[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
        active = rms[rms > rms.max() * 10 ** (-30 / 20)]
        level = float(np.sqrt(np.mean(active**2))) if active.size else float(rms.max())
    else:
        level = float(np.sqrt(np.mean(y**2)) + 1e-12)
    gain = 10 ** (-20 / 20) / max(level, 1e-6)
    peak = float(np.max(np.abs(y))) * gain
    if peak > 10 ** (-1 / 20):
        gain *= 10 ** (-1 / 20) / peak
    return (y * gain).astype(np.float32), sr


def atomic_write_flac(y: np.ndarray, sr: int, dest: Path) -> None:
    """Write a 16-bit FLAC through a temp file (mode 0600) and os.replace (a crash never leaves
    half a file)."""
    private_dir(dest.parent)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".flac", dir=dest.parent)
    os.close(fd)
    try:
        sf.write(tmp, y, sr, format="FLAC", subtype="PCM_16")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
