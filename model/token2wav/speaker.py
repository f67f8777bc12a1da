"""`Token2WavSpeaker`: the `model.policy.Speaker` of the Step-Audio 2 policies.

Each segment opens one token2wav stream in the active voice (`voice.prompt_path` when the
voice library gives one, else the package's default prompt, a few seconds of the embedded
Piper voice) and returns 24 kHz `AudioChunk`s as soon as 25 tokens plus the look-ahead have
arrived, while the policy keeps generating. Text deltas are not spoken by token2wav.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.events import AudioChunk
from model.policy import VoiceSpec
from model.speech import speak_once
from model.token2wav.synthesis import SAMPLE_RATE, Token2Wav

DEFAULT_PROMPT = Path(__file__).parent / "assets" / "default_prompt.wav"


def default_prompt_path() -> Path:
    return DEFAULT_PROMPT


class Token2WavSegment:
    """Speech codes in, audio out, chunk by chunk (the stream opens on the first codes)."""

    def __init__(self, token2wav: Token2Wav, prompt: Path, voice_id: str) -> None:
        self._t2w, self._prompt, self._voice_id = token2wav, prompt, voice_id
        self._stream: Any = None
        self.info: dict[str, Any] = {"speech": "token2wav"}
        self.n_tokens = 0

    def _chunks(self, pieces: list[np.ndarray]) -> Iterator[AudioChunk]:
        for samples in pieces:
            if samples.size:
                yield AudioChunk(samples=samples, sample_rate=SAMPLE_RATE)

    def text(self, delta: str) -> Iterator[AudioChunk]:
        return iter(())

    def tokens(self, tokens: list[int]) -> Iterator[AudioChunk]:
        if self._stream is None:
            self._stream = self._t2w.open_stream(self._prompt, self._voice_id)
        self.n_tokens += len(tokens)
        yield from self._chunks(self._stream.push(list(tokens)))

    def end(self) -> Iterator[AudioChunk]:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            yield from self._chunks(stream.finish())


class Token2WavSpeaker:
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        token2wav_dir: str | Path | None = None,
        *,
        token2wav: Token2Wav | None = None,
        device: str | torch.device = "cpu",
        chunk_size: int = 25,
    ):
        if token2wav is None:
            if token2wav_dir is None:
                raise ValueError("Token2WavSpeaker needs a token2wav directory")
            token2wav = Token2Wav.from_pretrained(
                token2wav_dir, device=device, chunk_size=chunk_size
            )
        self.token2wav = token2wav

    def prompt_for(self, voice: VoiceSpec | None) -> tuple[Path, str]:
        if voice is not None and voice.prompt_path:
            return Path(voice.prompt_path), voice.voice_id
        return DEFAULT_PROMPT, "default"

    def segment(self, voice: VoiceSpec | None = None) -> Token2WavSegment:
        prompt, voice_id = self.prompt_for(voice)
        return Token2WavSegment(self.token2wav, prompt, voice_id)

    def speak(
        self, text: str, audio_tokens: list[int], voice: VoiceSpec | None = None
    ) -> Iterator[AudioChunk]:
        """The speech of a finished list of `audio_tokens` (text is not spoken)."""
        return speak_once(self, "", audio_tokens, voice)
