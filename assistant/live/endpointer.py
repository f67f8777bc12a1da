"""Streaming end-of-utterance detection with silero-vad.

Feed any number of 16 kHz float32 samples; the endpointer runs silero-vad on 512-sample
windows (32 ms) and reports:

- `SpeechStart(start)`: `onset_ms` of speech in a row were seen; `start` is the sample
  index of the first speech window (what barge-in reacts to);
- `SpeechEnd(audio, start, end)`: `silence_ms` of non-speech followed speech that lasted at
  least `min_speech_ms` (or `max_utterance_s` was reached); `audio` is the utterance with
  `pre_roll_ms` of audio before the onset and up to `post_roll_ms` after the last speech.

A `SpeechStart` that never reaches `min_speech_ms` ends with `SpeechAbort` (a click, a cough).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

SAMPLE_RATE = 16000
WINDOW = 512  # silero-vad's window at 16 kHz


class EndpointConfig(BaseModel):
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="speech probability that starts speech"
    )
    neg_threshold: float = Field(
        0.35, ge=0.0, le=1.0, description="probability below which a window is silence"
    )
    silence_ms: int = Field(700, ge=64, le=10000, description="silence that ends an utterance")
    onset_ms: int = Field(96, ge=32, le=2000, description="speech in a row that counts as an onset")
    min_speech_ms: int = Field(250, ge=0, le=10000, description="shorter speech is ignored")
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    post_roll_ms: int = Field(200, ge=0, le=2000)
    max_utterance_s: float = Field(30.0, gt=0)


@dataclass
class SpeechStart:
    start: int  # sample index of the onset


@dataclass
class SpeechEnd:
    audio: np.ndarray
    start: int
    end: int  # sample index just after the last speech window


@dataclass
class SpeechAbort:
    start: int


VadEvent = SpeechStart | SpeechEnd | SpeechAbort


def load_vad():
    """A fresh silero-vad model (each endpointer owns its recurrent state)."""
    from silero_vad import load_silero_vad

    return load_silero_vad()


class Endpointer:
    def __init__(self, config: EndpointConfig | None = None, model=None) -> None:
        self.config = config or EndpointConfig()
        self.model = model if model is not None else load_vad()
        self.reset()

    # ---------------------------------------------------------------- state
    def reset(self) -> None:
        self.model.reset_states()
        self._buf = np.zeros(0, dtype=np.float32)
        self.pos = 0  # samples consumed into windows
        self._history: list[np.ndarray] = []  # recent windows for pre-roll
        self._utt: list[np.ndarray] | None = None  # windows of the utterance in progress
        self.in_speech = False  # an onset was declared
        self._run_start: int | None = None  # first window of the current speech run
        self._run_len = 0
        self._silence = 0  # silent windows since the last speech window
        self._speech_windows = 0
        self._start = 0
        self._last_speech_end = 0
        self.last_prob = 0.0

    @property
    def speaking(self) -> bool:
        return self.in_speech

    def _ms(self, windows: int) -> float:
        return windows * WINDOW * 1000.0 / SAMPLE_RATE

    def _prob(self, window: np.ndarray) -> float:
        import torch

        with torch.no_grad():
            return float(self.model(torch.from_numpy(window), SAMPLE_RATE).item())

    # ---------------------------------------------------------------- feed
    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, samples])
        events: list[VadEvent] = []
        while self._buf.size >= WINDOW:
            w = self._buf[:WINDOW]
            self._buf = self._buf[WINDOW:]
            events.extend(self._window(w))
        return events

    def _window(self, w: np.ndarray) -> list[VadEvent]:
        cfg = self.config
        p = self._prob(w)
        self.last_prob = p
        start_of_w = self.pos
        self.pos += WINDOW
        events: list[VadEvent] = []
        pre_windows = int(np.ceil(cfg.pre_roll_ms * SAMPLE_RATE / 1000 / WINDOW))

        if not self.in_speech:
            self._history.append(w)
            if len(self._history) > pre_windows + 64:
                self._history = self._history[-(pre_windows + 64) :]
            if p >= cfg.threshold:
                if self._run_start is None:
                    self._run_start = start_of_w
                    self._run_len = 0
                self._run_len += 1
                if self._ms(self._run_len) >= cfg.onset_ms:
                    self.in_speech = True
                    self._start = self._run_start
                    keep = self._run_len + pre_windows
                    self._utt = list(self._history[-keep:])
                    self._speech_windows = self._run_len
                    self._silence = 0
                    self._last_speech_end = self.pos
                    events.append(SpeechStart(self._start))
            elif p < cfg.neg_threshold or self._run_start is not None:
                self._run_start = None
                self._run_len = 0
            return events

        assert self._utt is not None
        self._utt.append(w)
        if p >= cfg.neg_threshold:
            if p >= cfg.threshold or self._silence == 0:
                self._speech_windows += 1
            self._silence = 0
            self._last_speech_end = self.pos
        else:
            self._silence += 1
        too_long = (self.pos - self._start) / SAMPLE_RATE >= cfg.max_utterance_s
        if self._ms(self._silence) >= cfg.silence_ms or too_long:
            events.append(self._finish())
        return events

    def _finish(self) -> VadEvent:
        cfg = self.config
        assert self._utt is not None
        post_windows = int(np.ceil(cfg.post_roll_ms * SAMPLE_RATE / 1000 / WINDOW))
        keep_tail = max(0, self._silence - post_windows)
        windows = self._utt[: len(self._utt) - keep_tail] if keep_tail else self._utt
        audio = np.concatenate(windows) if windows else np.zeros(0, dtype=np.float32)
        ev: VadEvent
        if self._ms(self._speech_windows) >= cfg.min_speech_ms:
            ev = SpeechEnd(audio=audio, start=self._start, end=self._last_speech_end)
        else:
            ev = SpeechAbort(self._start)
        self.in_speech = False
        self._utt = None
        self._run_start = None
        self._run_len = 0
        self._silence = 0
        self._history = []
        return ev

    def force_end(self) -> SpeechEnd | None:
        """End the utterance in progress now (push-to-talk release, shutdown)."""
        if not self.in_speech:
            return None
        ev = self._finish()
        return ev if isinstance(ev, SpeechEnd) else None
