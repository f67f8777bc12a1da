"""The playback queue: reply chunks in, an output stream's callback pulls them out.

`Player.write()` may be called from any thread (the turn worker) with chunks at any sample
rate; they are resampled to the output rate and queued. The output stream's callback
(`Player.callback`, sounddevice's signature) copies queued samples out and pads with
silence. `stop()` drops everything queued, so the next callback block is silent: that is
barge-in. Playback starts with the first chunk written — there is no pre-buffering beyond
one output block.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from core.audio import resample


class Player:
    def __init__(self, samplerate: int) -> None:
        self.samplerate = int(samplerate)
        self._lock = threading.Lock()
        self._queue: deque[np.ndarray] = deque()
        self._offset = 0  # samples of _queue[0] already played
        self._queued = 0  # samples waiting
        self._open = False  # a reply is being written (more may come)
        self.played = 0  # samples copied out, total
        self._reply_played = 0  # samples of the current reply copied out
        self.stopped_count = 0
        self.first_audio_time: float | None = (
            None  # wall time the current reply's first sample went out
        )
        self.last_stop_time: float | None = None
        self.idle = threading.Event()
        self.idle.set()

    # ---------------------------------------------------------------- producer side
    def begin(self) -> None:
        """A new reply starts: playback is 'active' until `end()` and the queue drains."""
        with self._lock:
            self._open = True
            self._reply_played = 0
            self.first_audio_time = None
            self.idle.clear()

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        x = resample(
            np.asarray(samples, dtype=np.float32).reshape(-1), int(sample_rate), self.samplerate
        )
        if x.size == 0:
            return
        with self._lock:
            if not self._open:
                return  # stopped (barge-in) or never begun: drop
            self._queue.append(np.clip(x, -1.0, 1.0))
            self._queued += x.size

    def end(self) -> None:
        """No more chunks for this reply; `idle` is set once the queue drains."""
        with self._lock:
            self._open = False
            if self._queued == 0:
                self.idle.set()

    def stop(self) -> None:
        """Barge-in: drop everything queued now; the next output block is silent."""
        with self._lock:
            had = self._open or self._queued > 0
            self._queue.clear()
            self._offset = 0
            self._queued = 0
            self._open = False
            self.idle.set()
            if had:
                self.stopped_count += 1
                self.last_stop_time = time.perf_counter()

    @property
    def active(self) -> bool:
        """A reply is being written or is still playing."""
        return not self.idle.is_set()

    @property
    def played_seconds(self) -> float:
        """Seconds of the current reply played so far."""
        return self._reply_played / self.samplerate

    @property
    def queued_seconds(self) -> float:
        return self._queued / self.samplerate

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.idle.wait(timeout)

    # ---------------------------------------------------------------- consumer side
    def read(self, frames: int) -> np.ndarray:
        out = np.zeros(frames, dtype=np.float32)
        with self._lock:
            filled = 0
            while filled < frames and self._queue:
                head = self._queue[0]
                k = min(frames - filled, head.size - self._offset)
                out[filled : filled + k] = head[self._offset : self._offset + k]
                filled += k
                self._offset += k
                if self._offset >= head.size:
                    self._queue.popleft()
                    self._offset = 0
            self._queued -= filled
            self.played += filled
            self._reply_played += filled
            if filled and self.first_audio_time is None:
                self.first_audio_time = time.perf_counter()
            if self._queued == 0 and not self._open:
                self.idle.set()
        return out

    def callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """sounddevice OutputStream callback."""
        block = self.read(frames)
        if outdata.ndim == 2:
            outdata[:] = block[:, None]
        else:
            outdata[:] = block
