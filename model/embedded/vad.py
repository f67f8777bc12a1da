"""Voice activity: silero-vad (ships its model) to trim silence around speech."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

# silero's model keeps its recurrent state inside the module: two threads running it at once
# (two conversations' turns in one server) corrupt each other's state and can crash torch.
_MODEL_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _model():
    import silero_vad

    return silero_vad.load_silero_vad(onnx=False)


def speech_spans(samples: np.ndarray, sample_rate: int = 16000, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Sample ranges that contain speech (16 kHz mono float32)."""
    import silero_vad
    import torch

    if sample_rate != 16000:
        raise ValueError("speech_spans expects 16 kHz audio")
    if samples.size < 512:
        return []
    audio = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    with _MODEL_LOCK:
        ts = silero_vad.get_speech_timestamps(
            audio,
            _model(),
            threshold=threshold,
            sampling_rate=16000,
            min_silence_duration_ms=300,
            speech_pad_ms=120,
        )
    return [(int(t["start"]), int(t["end"])) for t in ts]


def trim(samples: np.ndarray, sample_rate: int = 16000) -> tuple[np.ndarray, bool]:
    """Cut leading and trailing non-speech. Returns (audio, found_speech)."""
    spans = speech_spans(samples, sample_rate)
    if not spans:
        return samples, False
    return samples[spans[0][0] : spans[-1][1]], True
