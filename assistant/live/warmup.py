"""Load an assistant's models before the first question, so the first reply is not slow.

Uses `assistant.warmup()` when the assistant has one; otherwise runs one text turn on a
throwaway thread (routing + TTS) and, for policies with a speech recognizer (`policy.asr`),
one transcription of quiet noise.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from model.policy import CancelToken

WARMUP_THREAD = "stepvox-warmup"


def warm_up(assistant: Any) -> None:
    """Warm the assistant up on a worker thread; Ctrl-C while it runs cancels it and is raised
    at once (raised inside the graph, it waited for the whole warm-up turn to finish)."""
    cancel = CancelToken()
    failed: list[BaseException] = []
    done = threading.Event()  # not Thread.join: a join that Ctrl-C interrupts cannot be redone

    def run() -> None:
        try:
            _warm_up(assistant, cancel)
        except BaseException as e:  # raised again on the caller's thread
            failed.append(e)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="warm-up").start()
    try:
        done.wait()
    except KeyboardInterrupt:
        cancel.cancel()
        done.wait(timeout=5)  # a cancelled turn ends at its next event
        raise
    if failed:
        raise failed[0]


def _warm_up(assistant: Any, cancel: CancelToken) -> None:
    fn = getattr(assistant, "warmup", None)
    if callable(fn):
        fn(cancel=cancel)
        return
    asr = getattr(getattr(assistant, "policy", None), "asr", None)
    if asr is not None and hasattr(asr, "transcribe"):
        noise = (np.random.default_rng(0).standard_normal(16000) * 1e-3).astype(np.float32)
        try:
            asr.transcribe(noise, 16000)
        except Exception:
            pass
    try:
        for _ in assistant.stream_turn(thread_id=WARMUP_THREAD, text="hello", cancel=cancel):
            pass
    except TypeError:  # an assistant without the text path
        pass
