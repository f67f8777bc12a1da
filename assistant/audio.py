"""Audio input: decode wav/flac/ogg/mp3 (any rate, any channels) to 16 kHz mono float32,
validating on the way. Every problem is an `AudioInputError` naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.errors import UserError

TARGET_RATE = 16000


class AudioInputError(UserError):
    pass


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data, rate


def _decode_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise ValueError("no audio stream")
        stream = streams[0]
        rate = stream.codec_context.sample_rate or stream.rate
        frames = []
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            if arr.dtype.kind == "i":
                arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
            if frame.format.is_planar or arr.shape[0] == len(frame.layout.channels):
                arr = arr.reshape(len(frame.layout.channels), -1).T
            else:
                arr = arr.reshape(-1, len(frame.layout.channels))
            frames.append(arr.astype(np.float32))
    if not frames:
        return np.zeros((0, 1), np.float32), int(rate or TARGET_RATE)
    return np.concatenate(frames), int(rate)


def load_audio(path: str | Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode, mix to mono, resample to 16 kHz. Returns (samples, 16000)."""
    p = Path(path)
    if not p.exists():
        raise AudioInputError(f"{p}: file not found")
    if p.is_dir():
        raise AudioInputError(f"{p}: is a directory, not an audio file")
    if p.stat().st_size == 0:
        raise AudioInputError(f"{p}: empty file")
    try:
        data, rate = _decode_soundfile(p)
    except Exception as sf_err:  # not something libsndfile reads: try FFmpeg (mp3, m4a, ...)
        try:
            data, rate = _decode_av(p)
        except Exception:
            reason = str(sf_err).split("\n")[0]
            if "unimplemented format" in reason.lower() or "format not recognised" in reason.lower():
                reason = "not a recognised audio format"
            raise AudioInputError(f"{p}: cannot decode audio ({reason})") from None
    if data.size == 0 or data.shape[0] == 0:
        raise AudioInputError(f"{p}: contains zero audio samples")
    duration = data.shape[0] / rate
    if max_seconds is not None and duration > max_seconds:
        raise AudioInputError(
            f"{p}: audio is {duration:.1f} s long, longer than the limit of {max_seconds:g} s "
            "(set STEPVOX_MAX_INPUT_SECONDS to change it)"
        )
    if not np.all(np.isfinite(data)):
        raise AudioInputError(f"{p}: contains invalid (NaN or infinite) samples")
    mono = data.mean(axis=1).astype(np.float32)
    if rate != TARGET_RATE:
        import librosa

        mono = librosa.resample(mono, orig_sr=rate, target_sr=TARGET_RATE).astype(np.float32)
    return mono, TARGET_RATE
