"""Audio streams: sounddevice's callback interface, plus file-backed streams with the same shape.

The live loop only ever talks to an object with ``start()``, ``stop()``, ``close()``,
``samplerate``, ``blocksize``, ``channels`` and a ``callback`` it was built with; the
callback has sounddevice's signatures::

    input:  callback(indata: ndarray[frames, channels] float32, frames, time, status)
    output: callback(outdata: ndarray[frames, channels] float32, frames, time, status)

`open_input_stream` / `open_output_stream` build real `sounddevice` streams.
`FileInputStream` delivers the blocks of a file (or array, or a generator of blocks) at
real-time pace from its own thread, exactly like PortAudio's callback thread does, and
`FileOutputStream` pulls blocks at real-time pace and records what was played (and when).
Tests and `benchmarks/live_latency.py` run the real loop through these.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.errors import UserError
from core import audio as core_audio

InputCallback = Callable[[np.ndarray, int, Any, Any], None]
OutputCallback = Callable[[np.ndarray, int, Any, Any], None]


class AudioStream(Protocol):
    samplerate: float
    blocksize: int
    channels: int

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


# ---------------------------------------------------------------- sounddevice


def import_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a one-line UserError."""
    try:
        import sounddevice as sd
    except OSError as e:  # sounddevice raises OSError('PortAudio library not found')
        raise UserError(
            f"audio: {e} (install PortAudio: `apt-get install libportaudio2` on Debian/Ubuntu, "
            "`brew install portaudio` on macOS)"
        ) from None
    except ImportError as e:
        raise UserError(f"audio: the sounddevice package is missing ({e})") from None
    return sd


def list_devices() -> list[dict[str, Any]]:
    """All audio devices PortAudio sees, with which ones are the defaults."""
    sd = import_sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except Exception as e:  # PortAudioError
        raise UserError(f"audio: cannot query audio devices ({e})") from None
    out = []
    for i, d in enumerate(devices):
        out.append(
            {
                "index": i,
                "name": d["name"],
                "hostapi": sd.query_hostapis(d["hostapi"])["name"],
                "max_input_channels": int(d["max_input_channels"]),
                "max_output_channels": int(d["max_output_channels"]),
                "default_samplerate": float(d["default_samplerate"]),
                "default_input": i == default_in,
                "default_output": i == default_out,
            }
        )
    return out


def resolve_device(device: str | int | None, kind: str) -> dict[str, Any]:
    """Find an input or output device by index, name substring or the default.

    Raises a UserError naming what is missing (no device of that kind, unknown name).
    """
    sd = import_sounddevice()
    channels_key = f"max_{kind}_channels"
    devices = list_devices()
    usable = [d for d in devices if d[channels_key] > 0]
    if not usable:
        raise UserError(f"audio: no {kind} device found (PortAudio sees {len(devices)} device(s))")
    if device is None or device == "":
        try:
            info = sd.query_devices(kind=kind)
        except Exception:
            raise UserError(
                f"audio: no default {kind} device; pick one with --{kind}-device (see `stepvox devices`)"
            ) from None
        for d in usable:
            if d["name"] == info["name"]:
                return d
        return usable[0]
    if isinstance(device, int) or str(device).isdigit():
        idx = int(device)
        for d in usable:
            if d["index"] == idx:
                return d
        raise UserError(
            f"--{kind}-device {device}: no {kind} device with that index (see `stepvox devices`)"
        )
    matches = [d for d in usable if str(device).lower() in d["name"].lower()]
    if not matches:
        raise UserError(
            f"--{kind}-device {device!r}: no {kind} device with that name (see `stepvox devices`)"
        )
    return matches[0]


def open_input_stream(
    device: str | int | None, samplerate: int, blocksize: int, callback: InputCallback
) -> AudioStream:
    """Open the mic at `samplerate`, or at the device's own rate when it refuses that one
    (the loop then resamples: check the stream's `.samplerate`)."""
    sd = import_sounddevice()
    d = resolve_device(device, "input")
    errors = []
    for rate in dict.fromkeys([int(samplerate), int(d["default_samplerate"])]):
        try:
            return sd.InputStream(
                device=d["index"],
                samplerate=rate,
                blocksize=blocksize * rate // int(samplerate),
                channels=1,
                dtype="float32",
                callback=callback,
            )
        except Exception as e:
            errors.append(f"{rate} Hz: {e}")
    raise UserError(f"audio: cannot open input device {d['name']!r} ({'; '.join(errors)})")


def open_output_stream(
    device: str | int | None, samplerate: int | None, blocksize: int, callback: OutputCallback
) -> AudioStream:
    sd = import_sounddevice()
    d = resolve_device(device, "output")
    rate = int(samplerate or d["default_samplerate"])
    try:
        return sd.OutputStream(
            device=d["index"],
            samplerate=rate,
            blocksize=blocksize,
            channels=1,
            dtype="float32",
            callback=callback,
        )
    except Exception as e:
        raise UserError(
            f"audio: cannot open output device {d['name']!r} at {rate} Hz ({e})"
        ) from None


# ---------------------------------------------------------------- file-backed


def load_mono(path: str | Path, samplerate: int) -> np.ndarray:
    """Read an audio file as float32 mono at `samplerate`."""
    try:
        samples, _ = core_audio.load(path, samplerate)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except core_audio.AudioDecodeError as e:
        raise UserError(f"{path}: cannot read audio ({e.reason})") from None
    return samples


class _Clocked:
    """A thread that fires a block callback every blocksize/samplerate seconds of wall time."""

    def __init__(self, samplerate: int, blocksize: int, speed: float) -> None:
        self.samplerate = float(samplerate)
        self.blocksize = int(blocksize)
        self.channels = 1
        self.speed = float(speed)
        self.frames_done = 0
        self.t0: float | None = None
        self.active = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.active = True
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        self.active = False

    def close(self) -> None:
        self.stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def time_of_frame(self, frame: int) -> float:
        """Wall time (perf_counter) at which `frame` was (or will be) delivered."""
        assert self.t0 is not None
        return self.t0 + frame / self.samplerate / self.speed

    def _run(self) -> None:
        period = self.blocksize / self.samplerate / self.speed
        self.t0 = time.perf_counter()
        n = 0
        try:
            while not self._stop.is_set():
                if not self._block():
                    break
                n += 1
                delay = self.t0 + n * period - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)
        except BaseException as e:  # surfaced to the owner via .error
            self.error = e
        finally:
            self.active = False

    def _block(self) -> bool:
        raise NotImplementedError


class FileInputStream(_Clocked):
    """An input stream whose microphone is a file, an array or a generator of blocks.

    `source` may be a path, a float array at `samplerate`, or an iterable of float arrays
    (any lengths; they are re-blocked). When the source ends the stream keeps delivering
    silence (like a quiet room) unless `stop_at_end` is set. `speed` > 1 runs faster than
    real time. `delivered_at` maps a frame index to the wall time its block was delivered.
    """

    def __init__(
        self,
        source: str | Path | np.ndarray | Iterable[np.ndarray],
        *,
        samplerate: int = 16000,
        blocksize: int = 512,
        callback: InputCallback,
        speed: float = 1.0,
        stop_at_end: bool = False,
    ) -> None:
        super().__init__(samplerate, blocksize, speed)
        self.callback = callback
        self.stop_at_end = stop_at_end
        if isinstance(source, str | Path):
            source = load_mono(source, samplerate)
        if isinstance(source, np.ndarray):
            arr = np.asarray(source, dtype=np.float32).reshape(-1)
            self._blocks: Iterator[np.ndarray] = iter([arr])
        else:
            self._blocks = iter(source)
        self._pending = np.zeros(0, dtype=np.float32)
        self.exhausted = False
        self.delivered_at: list[float] = []  # wall time of each block

    def _next_frames(self, n: int) -> np.ndarray | None:
        while self._pending.size < n and not self.exhausted:
            try:
                nxt = next(self._blocks)
            except StopIteration:
                self.exhausted = True
                break
            self._pending = np.concatenate(
                [self._pending, np.asarray(nxt, dtype=np.float32).reshape(-1)]
            )
        if self._pending.size == 0 and self.exhausted and self.stop_at_end:
            return None
        out = np.zeros(n, dtype=np.float32)
        k = min(n, self._pending.size)
        out[:k] = self._pending[:k]
        self._pending = self._pending[k:]
        return out

    def _block(self) -> bool:
        frames = self._next_frames(self.blocksize)
        if frames is None:
            return False
        self.delivered_at.append(time.perf_counter())
        self.callback(frames.reshape(-1, 1), self.blocksize, None, None)
        self.frames_done += self.blocksize
        return True

    def wall_time_of(self, frame: int) -> float | None:
        """When the block holding `frame` reached the callback (None if not yet)."""
        i = frame // self.blocksize
        return self.delivered_at[i] if i < len(self.delivered_at) else None


class FileOutputStream(_Clocked):
    """An output stream whose speaker is memory: pulls blocks at real-time pace and records them.

    `recorded()` is everything played; `first_sound_time` is the wall time of the first
    block with any non-zero sample, `block_times` the wall time of every block pulled.
    `path`, if given, gets a wav of what was played on close.
    """

    def __init__(
        self,
        *,
        samplerate: int = 16000,
        blocksize: int = 320,
        callback: OutputCallback,
        speed: float = 1.0,
        path: str | Path | None = None,
    ) -> None:
        super().__init__(samplerate, blocksize, speed)
        self.callback = callback
        self.path = Path(path) if path else None
        self._chunks: list[np.ndarray] = []
        self.block_times: list[float] = []
        self.first_sound_time: float | None = None

    def _block(self) -> bool:
        out = np.zeros((self.blocksize, 1), dtype=np.float32)
        self.callback(out, self.blocksize, None, None)
        now = time.perf_counter()
        self.block_times.append(now)
        if self.first_sound_time is None and np.any(out != 0):
            self.first_sound_time = now
        self._chunks.append(out[:, 0].copy())
        self.frames_done += self.blocksize
        return True

    def recorded(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        super().close()
        if self.path is not None:
            import soundfile as sf

            sf.write(str(self.path), self.recorded(), int(self.samplerate))
