"""The project's one audio decode / mono / resample path.

- `decode(path)`: a file -> (frames x channels float32, rate). libsndfile (soundfile) reads
  wav/flac/ogg/opus/mp3/aiff; what it cannot read (m4a/aac, some mp3, video containers) goes
  through FFmpeg (PyAV). `max_seconds` is enforced while decoding: from the header before
  reading with libsndfile, frame by frame with FFmpeg, so an over-long file is never fully
  decoded.
- `to_mono`: average the channels.
- `resample`: the project's one resampler, soxr at "HQ" quality (the same engine and setting as
  `librosa.resample`'s default `soxr_hq`); `StreamResampler` is its block-by-block form for
  live audio (soxr's streaming API: the same filter, so blocks join without clicks).
- `load(path, rate)`: decode + mono + resample.

Unreadable audio raises `AudioDecodeError` (a ValueError naming the file and the reason); an
over-long file raises its subclass `AudioTooLongError`; a missing file `FileNotFoundError`.
Callers add their own validation (limits, silence, exit codes) on top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: soxr quality for every resample in the project (librosa's default `soxr_hq`)
RESAMPLE_QUALITY = "HQ"


class AudioDecodeError(ValueError):
    """Audio that cannot be decoded. `str(e)` names the file; `e.reason` is the cause alone."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: cannot decode audio ({reason})")


class AudioTooLongError(AudioDecodeError):
    """Longer than the `max_seconds` the caller allowed (found while decoding).

    `seconds` is the file's length when the container states it, else how far decoding got
    before it passed the limit (a lower bound)."""

    def __init__(self, path: str | Path, seconds: float, limit: float) -> None:
        self.seconds = float(seconds)
        self.limit = float(limit)
        AudioDecodeError.__init__(self, path, f"{seconds:.1f} s is longer than {limit:g} s")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().split("\n")[0]
    return text or type(e).__name__


def _sndfile_reason(e: BaseException) -> str:
    reason = _first_line(e)
    low = reason.lower()
    if "unimplemented format" in low or "format not recognised" in low:
        return "not a recognised audio format"
    return reason


def _decode_sndfile(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as f:
        rate = int(f.samplerate)
        if max_seconds is not None and f.frames > 0 and f.frames / rate > max_seconds:
            raise AudioTooLongError(path, f.frames / rate, max_seconds)
        data = f.read(dtype="float32", always_2d=True)
    return data, rate


def _frame_array(frame) -> np.ndarray:
    """One PyAV AudioFrame -> (samples, channels) float32 in [-1, 1]."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    arr = arr.reshape(channels, -1).T if frame.format.is_planar else arr.reshape(-1, channels)
    if arr.dtype.kind == "u":  # u8: offset binary
        return ((arr.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if arr.dtype.kind == "i":
        return (arr.astype(np.float32) / float(-np.iinfo(arr.dtype).min)).astype(np.float32)
    return arr.astype(np.float32, copy=False)


def _decode_ffmpeg(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import av  # FFmpeg bindings: heavy, and only needed for what libsndfile cannot read

    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise ValueError("no audio stream")
        stream = streams[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        frames: list[np.ndarray] = []
        n = 0
        for frame in container.decode(stream):
            arr = _frame_array(frame)
            rate = rate or int(frame.sample_rate)
            frames.append(arr)
            n += arr.shape[0]
            if max_seconds is not None and rate and n / rate > max_seconds:
                stated = (container.duration or 0) / 1_000_000  # AV_TIME_BASE
                raise AudioTooLongError(path, max(stated, n / rate), max_seconds)
    if not rate:
        raise ValueError("no sample rate")
    if not frames:
        return np.zeros((0, 1), np.float32), rate
    return np.concatenate(frames), rate


def decode(path: str | Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode a file at its own rate. Returns (float32 array of shape (frames, channels), rate).

    Raises FileNotFoundError (no such file), AudioTooLongError (over `max_seconds`),
    AudioDecodeError (neither libsndfile nor FFmpeg can read it)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    try:
        return _decode_sndfile(p, max_seconds)
    except AudioTooLongError:
        raise
    except Exception as sf_err:  # libsndfile raises several types; FFmpeg may still read it
        try:
            return _decode_ffmpeg(p, max_seconds)
        except AudioTooLongError:
            raise
        except Exception:
            raise AudioDecodeError(p, _sndfile_reason(sf_err)) from None


def to_mono(data: np.ndarray) -> np.ndarray:
    """(frames,) or (frames, channels) -> (frames,) float32, the channels averaged."""
    x = np.asarray(data, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(f"audio must be 1-D or (frames, channels), got shape {x.shape}")
    return x[:, 0].copy() if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample 1-D (or (frames, channels)) audio with soxr HQ; float32 out."""
    x = np.asarray(x, dtype=np.float32)
    sr_in, sr_out = int(sr_in), int(sr_out)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive (got {sr_in} -> {sr_out})")
    if sr_in == sr_out or x.shape[0] == 0:
        return x
    y = soxr.resample(np.ascontiguousarray(x), sr_in, sr_out, quality=RESAMPLE_QUALITY)
    return np.asarray(y, dtype=np.float32)


def load(
    path: str | Path, rate: int | None = None, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """Decode, mix to mono, resample to `rate` (None: keep the file's). Returns (samples, rate)."""
    data, sr = decode(path, max_seconds=max_seconds)
    mono = to_mono(data)
    if rate is None:
        return mono, sr
    return resample(mono, sr, rate), int(rate)


class StreamResampler:
    """Mono float32 resampling block by block (soxr's streaming resampler, same filter as
    `resample`). Blocks of any size join seamlessly; the filter holds back its look-ahead
    (about 20 ms at HQ), which `flush()` releases at the end of a stream."""

    def __init__(self, sr_in: int, sr_out: int) -> None:
        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self._stream = soxr.ResampleStream(
            self.sr_in, self.sr_out, 1, dtype="float32", quality=RESAMPLE_QUALITY
        )

    def process(self, x: np.ndarray) -> np.ndarray:
        block = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1))
        return np.asarray(self._stream.resample_chunk(block), dtype=np.float32)

    def flush(self) -> np.ndarray:
        """The samples still held back; the stream then starts afresh."""
        out = np.asarray(
            self._stream.resample_chunk(np.zeros(0, np.float32), last=True), dtype=np.float32
        )
        self._stream.clear()
        return out
