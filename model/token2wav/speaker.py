"""`Token2WavSpeaker`: the `model.policy.Speaker` of the Step-Audio 2 policies.

It turns a reply's audio tokens into streamed 24 kHz `AudioChunk`s in the active voice:
`voice.prompt_path` when the voice library gives one, else the package's default
prompt (`assets/default_prompt.wav`, a few seconds of the embedded Piper voice).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from model.events import AudioChunk
from model.policy import VoiceSpec
from model.token2wav.synthesis import SAMPLE_RATE, Token2Wav

DEFAULT_PROMPT = Path(__file__).parent / "assets" / "default_prompt.wav"


def default_prompt_path() -> Path:
    return DEFAULT_PROMPT


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

    def speak(
        self, text: str, audio_tokens: list[int], voice: VoiceSpec | None = None
    ) -> Iterator[AudioChunk]:
        """Stream the speech of `audio_tokens` (text is not spoken by token2wav)."""
        if not audio_tokens:
            return
        prompt, voice_id = self.prompt_for(voice)
        n = self.token2wav.chunk_size
        chunks = (audio_tokens[i : i + n] for i in range(0, len(audio_tokens), n))
        for samples in self.token2wav.stream(chunks, prompt, voice_id=voice_id):
            if samples.size:
                yield AudioChunk(samples=samples, sample_rate=self.sample_rate)
