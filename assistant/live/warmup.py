"""Load an assistant's models before the first question, so the first reply is not slow.

Uses `assistant.warmup()` when the assistant has one; otherwise runs one text turn on a
throwaway thread (routing + TTS) and, for policies with a speech recognizer (`policy.asr`),
one transcription of quiet noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

WARMUP_THREAD = "stepvox-warmup"


def warm_up(assistant: Any) -> None:
    fn = getattr(assistant, "warmup", None)
    if callable(fn):
        fn()
        return
    asr = getattr(getattr(assistant, "policy", None), "asr", None)
    if asr is not None and hasattr(asr, "transcribe"):
        noise = (np.random.default_rng(0).standard_normal(16000) * 1e-3).astype(np.float32)
        try:
            asr.transcribe(noise, 16000)
        except Exception:
            pass
    try:
        for _ in assistant.stream_turn(thread_id=WARMUP_THREAD, text="hello"):
            pass
    except TypeError:  # an assistant without the text path
        pass
