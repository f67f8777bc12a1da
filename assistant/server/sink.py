"""`WebSink`: the `ReplySink` of a WebSocket session (reply audio as binary PCM16 frames)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from core.audio import resample
from model.events import StopPlayback


class WebSink:
    """ReplySink over a WebSocket: reply audio goes out as binary PCM16 at the page's rate,
    a stop as a `StopPlayback` event.

    It counts as playing from the first chunk until the page reports its player idle
    (or, failing that, until the audio sent has had time to play out)."""

    def __init__(self, send: Callable[[Any], None], out_rate: int) -> None:
        self._send = send
        self.out_rate = out_rate
        self._lock = threading.Lock()
        self._open = False
        self._play_until = 0.0
        self._client_idle = True
        self.first_send_time: float | None = None
        self._sent_seconds = 0.0

    def begin(self) -> None:
        with self._lock:
            self._open = True
            self._client_idle = False
            self.first_send_time = None
            self._sent_seconds = 0.0
            self._play_until = time.perf_counter()

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        x = resample(np.asarray(samples, np.float32).reshape(-1), int(sample_rate), self.out_rate)
        if x.size == 0:
            return
        with self._lock:
            if not self._open:
                return
            now = time.perf_counter()
            if self.first_send_time is None:
                self.first_send_time = now
            self._play_until = max(self._play_until, now) + x.size / self.out_rate
            self._sent_seconds += x.size / self.out_rate
        pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
        self._send(pcm)

    def end(self) -> None:
        with self._lock:
            self._open = False

    def stop(self) -> None:
        with self._lock:
            was = self._open or not self._client_idle
            self._open = False
            self._client_idle = True
            self._play_until = 0.0
        if was:
            self._send(StopPlayback())

    @property
    def played_seconds(self) -> float:
        """Estimated: the page plays what it gets in real time from the first chunk."""
        with self._lock:
            if self.first_send_time is None:
                return 0.0
            return min(self._sent_seconds, time.perf_counter() - self.first_send_time)

    def client_idle(self) -> None:
        with self._lock:
            if not self._open:
                self._client_idle = True

    @property
    def active(self) -> bool:
        with self._lock:
            if self._open:
                return True
            return not self._client_idle and time.perf_counter() < self._play_until + 0.5
