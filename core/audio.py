"""The project's one audio decode / mono / resample path.

- `decode(path)`: a file -> (frames x channels float32, rate). libsndfile (soundfile) reads
  wav/flac/ogg/opus/mp3/aiff; what it cannot read (m4a/aac, some mp3, video containers) goes
  through FFmpeg (PyAV). Both stream: libsndfile in blocks of `BLOCK_FRAMES`, FFmpeg frame by
  frame. `max_seconds` is enforced twice: against the length the header states (before any
  sample is decoded) and against what has been decoded so far (a header that states no length,
  or the wrong one, cannot make it decode more than the limit allows), so memory stays bounded
  by the limit, not by the file.
- Every decoded block is checked: NaN or infinite samples (possible in float WAV/AIFF) are
  refused; `min_seconds` and `allow_silence=False` refuse what is too short or all silence.
- Native decoders (libsndfile's mpg123, FFmpeg) print warnings about damaged streams straight
  to file descriptor 2; while they decode (anything but WAV/FLAC/Ogg/AIFF, which libsndfile
  reads itself), fd 2 is pointed at /dev/null so a damaged file gives one clear error, not
  decoder noise.
- `to_mono`: average the channels.
- `resample`: the project's one resampler, soxr at "HQ" quality (the same engine and setting as
  `librosa.resample`'s default `soxr_hq`); `StreamResampler` is its block-by-block form for
  live audio (soxr's streaming API: the same filter, so blocks join without clicks).
- `load(path, rate)`: decode + mono + resample.

Unreadable audio raises `AudioDecodeError` (a ValueError naming the file and the reason); an
over-long file raises its subclass `AudioTooLongError`; audio that decodes but cannot be used
(non-finite samples, too short, silent) its subclass `AudioContentError`; a missing file
`FileNotFoundError`. Callers add their own limits and exit codes on top.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: soxr quality for every resample in the project (librosa's default `soxr_hq`)
RESAMPLE_QUALITY = "HQ"
#: frames libsndfile decodes per read (memory per step: BLOCK_FRAMES x channels x 4 bytes)
BLOCK_FRAMES = 1 << 16
#: peak below which a recording counts as silence (-80 dBFS)
SILENCE_PEAK = 1e-4
# libsndfile reports SF_COUNT_MAX frames when the header states no length (e.g. FLAC total 0)
_UNKNOWN_FRAMES = 1 << 62


class AudioDecodeError(ValueError):
    """Audio that cannot be decoded. `str(e)` names the file; `e.reason` is the cause alone."""

    def __init__(self, path: str | Path, reason: str, message: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(message or f"{path}: cannot decode audio ({reason})")


class AudioTooLongError(AudioDecodeError):
    """Longer than the `max_seconds` the caller allowed (found before or while decoding).

    `seconds` is the file's length when the header states it (`stated` is True), else how far
    decoding got before it passed the limit (a lower bound)."""

    def __init__(self, path: str | Path, seconds: float, limit: float, stated: bool = True) -> None:
        self.seconds = float(seconds)
        self.limit = float(limit)
        self.stated = stated
        if stated:
            reason = f"{seconds:.1f} s is longer than {limit:g} s"
        else:
            reason = f"longer than {limit:g} s (decoding stopped at {seconds:.1f} s)"
        AudioDecodeError.__init__(self, path, reason)


class AudioContentError(AudioDecodeError):
    """Decodable audio that cannot be used: NaN/infinite samples, too short, all silence.
    `str(e)` is "<file>: <reason>"."""

    def __init__(self, path: str | Path, reason: str) -> None:
        AudioDecodeError.__init__(self, path, reason, f"{path}: {reason}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().split("\n")[0]
    return text or type(e).__name__


def _sndfile_reason(e: BaseException) -> str:
    reason = _first_line(e)
    low = reason.lower()
    # libsndfile says "File does not exist or is not a regular file" for a damaged mp3 header
    if any(k in low for k in ("unimplemented format", "format not recognised", "not a regular file")):
        return "not a recognised audio format, or a damaged file"
    return reason


_quiet_lock = threading.Lock()
_quiet = {"depth": 0, "saved": -1}


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (nested and thread-safe: the first
    entry redirects, the last exit restores). Python's own sys.stderr is flushed first. fd 2 is
    the process's: what other threads write to stderr meanwhile is dropped too (decoding a
    file takes milliseconds to a second; the live and web paths decode no files)."""
    with _quiet_lock:
        if _quiet["depth"] == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            try:
                saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
                _quiet["saved"] = saved
            except OSError:  # no fd 2 (daemon) or no /dev/null: nothing to silence
                _quiet["saved"] = -1
        _quiet["depth"] += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet["depth"] -= 1
            if _quiet["depth"] == 0 and _quiet["saved"] >= 0:
                os.dup2(_quiet["saved"], 2)
                os.close(_quiet["saved"])
                _quiet["saved"] = -1


#: first bytes of WAV/RF64, FLAC, Ogg and AIFF files
_QUIET_CONTAINERS = {b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM"}


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(4)
    except OSError:
        return b""


def _check_block(path: Path, block: np.ndarray) -> None:
    if not np.isfinite(block).all():
        raise AudioContentError(path, "contains NaN or infinite samples")


def _frames_allowed(max_seconds: float | None, rate: int) -> int | None:
    return None if max_seconds is None else math.floor(max_seconds * rate)


def _join(blocks: list[np.ndarray], channels: int) -> np.ndarray:
    if not blocks:
        return np.zeros((0, max(channels, 1)), np.float32)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _decode_sndfile(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as f:
        rate = int(f.samplerate)
        if rate <= 0:
            raise ValueError("no sample rate")
        allowed = _frames_allowed(max_seconds, rate)
        stated = 0 <= f.frames < _UNKNOWN_FRAMES
        if allowed is not None and stated and f.frames > allowed:
            raise AudioTooLongError(path, f.frames / rate, max_seconds)
        blocks: list[np.ndarray] = []
        n = 0
        while True:
            block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            n += block.shape[0]
            if allowed is not None and n > allowed:
                raise AudioTooLongError(path, n / rate, max_seconds, stated=False)
            _check_block(path, block)
            blocks.append(block)
        return _join(blocks, f.channels), rate


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


def _stated_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _decode_ffmpeg(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    import av  # FFmpeg bindings: heavy, and only needed for what libsndfile cannot read

    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise ValueError("no audio stream")
        stream = streams[0]
        stated = _stated_seconds(container, stream)
        # a little slack: containers round their duration, codecs pad the last frame
        if max_seconds is not None and stated is not None and stated > max_seconds + 0.5:
            raise AudioTooLongError(path, stated, max_seconds)
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        frames: list[np.ndarray] = []
        n = 0
        for frame in container.decode(stream):
            arr = _frame_array(frame)
            rate = rate or int(frame.sample_rate)
            n += arr.shape[0]
            if max_seconds is not None and rate and n > _frames_allowed(max_seconds, rate):
                raise AudioTooLongError(path, n / rate, max_seconds, stated=False)
            _check_block(path, arr)
            frames.append(arr)
    if not rate:
        raise ValueError("no sample rate")
    return _join(frames, 1), rate


def _check_content(
    path: Path, data: np.ndarray, rate: int, min_seconds: float | None, allow_silence: bool
) -> None:
    seconds = data.shape[0] / rate
    if min_seconds is not None and seconds < min_seconds:
        raise AudioContentError(path, f"{seconds:.2f} s of audio, shorter than {min_seconds:g} s")
    if not allow_silence and (data.size == 0 or float(np.abs(data).max()) < SILENCE_PEAK):
        raise AudioContentError(path, "is silent (no sample above -80 dBFS)")


def decode(
    path: str | Path,
    max_seconds: float | None = None,
    *,
    min_seconds: float | None = None,
    allow_silence: bool = True,
) -> tuple[np.ndarray, int]:
    """Decode a file at its own rate. Returns (float32 array of shape (frames, channels), rate).

    Raises FileNotFoundError (no such file), AudioTooLongError (over `max_seconds`, found before
    more than that is decoded), AudioContentError (NaN/inf samples; shorter than `min_seconds`;
    silent when `allow_silence` is False), AudioDecodeError (neither libsndfile nor FFmpeg can
    read it)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    # libsndfile reads these containers itself, without a chatty native decoder; anything
    # else may reach mpg123 (MP3), and the fallback is FFmpeg: their noise is silenced
    quiet = _head(p) in _QUIET_CONTAINERS
    try:
        with nullcontext() if quiet else quiet_native_stderr():
            data, rate = _decode_sndfile(p, max_seconds)
    except AudioDecodeError:
        raise
    except Exception as sf_err:  # libsndfile raises several types; FFmpeg may still read it
        try:
            with quiet_native_stderr():
                data, rate = _decode_ffmpeg(p, max_seconds)
        except AudioDecodeError:
            raise
        except Exception:
            raise AudioDecodeError(p, _sndfile_reason(sf_err)) from None
    _check_content(p, data, rate, min_seconds, allow_silence)
    return data, rate


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
    path: str | Path,
    rate: int | None = None,
    max_seconds: float | None = None,
    *,
    min_seconds: float | None = None,
    allow_silence: bool = True,
) -> tuple[np.ndarray, int]:
    """Decode, mix to mono, resample to `rate` (None: keep the file's). Returns (samples, rate).
    Limits and errors as `decode`."""
    data, sr = decode(path, max_seconds, min_seconds=min_seconds, allow_silence=allow_silence)
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
