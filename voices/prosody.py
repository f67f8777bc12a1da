"""Mapping a library voice onto a TTS voice that cannot clone timbre (the embedded Piper voice):
carry over what can be carried, its pitch and speaking rate.

  length_scale          = reference_rate / voice_rate        (Piper: >1 slower, <1 faster),
                          clipped to [0.7, 1.4]
  pitch_shift_semitones = 12 * log2(voice_f0 / reference_f0), clipped to [-6, +6]; applied
                          after synthesis (e.g. librosa.effects.pitch_shift), as Piper has no
                          pitch control

reference_f0 / reference_rate describe the TTS voice as shipped; measure them once with
`voices.attributes.analyze` on a sentence it synthesized.
"""

from __future__ import annotations

import math
from typing import Any


def prosody_for(
    voice_attrs: dict[str, Any], reference_f0: float, reference_rate: float
) -> dict[str, float]:
    f0 = voice_attrs.get("median_f0_hz")
    rate = voice_attrs.get("speaking_rate")
    length_scale = 1.0
    if rate and reference_rate:
        length_scale = min(1.4, max(0.7, reference_rate / float(rate)))
    shift = 0.0
    if f0 and reference_f0:
        shift = min(6.0, max(-6.0, 12.0 * math.log2(float(f0) / reference_f0)))
    return {"length_scale": round(length_scale, 3), "pitch_shift_semitones": round(shift, 2)}
