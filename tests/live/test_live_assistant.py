"""The terminal loop on the real agents.Assistant (embedded policy), through file-backed streams.

Spoken questions (Piper) go in as real frames at real-time pace; the real graph transcribes,
calls the tool, speaks; the loop plays the reply, and speech over it barges in.
"""

import time

import numpy as np

from assistant.live.endpointer import EndpointConfig, load_vad
from tests.live.audio_helpers import silence, speech
from tests.live.test_loop import Script, make_loop

SR = 16000


def test_real_assistant_reply_then_barge_in_during_playback(real_assistant):
    script = Script(
        speech("What time is it in Tokyo?"),
        interrupt=speech("Stop. What time is it in London?"),
        wait_s=0.5,
    )
    loop, ins, out, view = make_loop(
        real_assistant, script, load_vad(), endpoint=EndpointConfig(silence_ms=500)
    )
    loop.run(until=lambda s: len(s.turns) >= 2 and s.turns[1].done_time is not None, max_seconds=90)
    s = loop.session
    assert len(s.turns) == 2, view.lines
    t0, t1 = s.turns
    assert "tokyo" in t0.result.transcript.lower() and t0.tool_calls, view.lines
    assert t0.first_chunk_time is not None
    assert len(s.barge_ins) == 1 and s.barge_ins[0]["was_playing"]
    latency = s.barge_ins[0]["time"] - ins.wall_time_of(script.onset_frame)
    assert 0 < latency < 0.3, latency
    k = next(i for i, t in enumerate(out.block_times) if t > s.barge_ins[0]["time"])
    assert not np.any(out.recorded()[k * 480 : (k + 10) * 480])  # silent right after the stop
    assert "london" in t1.result.transcript.lower(), view.lines
    assert any(ln.startswith("tool call: ") for ln in view.lines)
    # the conversation keeps what was heard of the interrupted reply, marked as interrupted
    replies = [m for m in real_assistant.history(s.thread_id) if m.type == "ai" and m.content]
    cut = [m for m in replies if m.response_metadata.get("interrupted")]
    assert len(cut) == 1 and t0.result.reply_text.startswith(cut[0].content), replies
    assert t0.heard_seconds is not None and 0 < t0.heard_seconds < sum(d for _, d in t0.chunks)


def test_real_assistant_generation_is_cancelled_by_barge_in(real_assistant):
    holder = {}

    def script():
        yield silence(0.3)
        yield speech("What time is it in Tokyo?")
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and not (
            holder["s"].turns and holder["s"].turn_running
        ):
            yield silence(512 / SR)
        yield silence(0.1)
        holder["onset"] = time.perf_counter()
        yield speech("Actually, what time is it in Paris?")
        yield silence(8)

    loop, ins, out, view = make_loop(
        real_assistant, script(), load_vad(), endpoint=EndpointConfig(silence_ms=500)
    )
    holder["s"] = s = loop.session
    loop.run(until=lambda s: len(s.turns) >= 2 and s.turns[1].done_time is not None, max_seconds=90)
    assert len(s.turns) == 2, view.lines
    t0, t1 = s.turns
    assert len(s.barge_ins) == 1 and s.barge_ins[0]["turn_running"]
    # the running turn ended promptly as cancelled, with no reply audio played for it
    assert t0.cancelled and t0.result is not None and t0.result.info.get("cancelled") is True, t0
    assert t0.done_time - s.barge_ins[0]["time"] < 5.0
    assert t0.first_chunk_time is None or t0.first_chunk_time > s.barge_ins[0]["time"]
    assert not t1.cancelled and "paris" in t1.result.transcript.lower(), view.lines
    assert t1.first_chunk_time is not None
