"""The terminal voice loop end to end through file-backed streams (the sounddevice interface).

Real speech frames go in through `FileInputStream` at real-time pace; the reply comes out of
`FileOutputStream`; between them run the real endpointer, session, playback queue and
barge-in. The assistant here is the Piper-speaking placeholder (tests/live/audio_helpers.py);
tests/live/test_live_assistant.py runs the same loop on the real agents.Assistant.
"""

import time

import numpy as np
import pytest
from rich.console import Console

from assistant.live.endpointer import EndpointConfig, load_vad
from assistant.live.loop import VoiceLoop
from assistant.live.stream import FileInputStream, FileOutputStream
from assistant.live.transcript import TranscriptView
from tests.live.audio_helpers import SpeakingAssistant, silence, speech

SR = 16000
BLOCK = 512


@pytest.fixture(scope="module")
def vad():
    return load_vad()


class Script:
    """Microphone content: question, then silence until the reply has played `wait_s`, then an interruption."""

    def __init__(self, question, interrupt=None, wait_s=0.6, tail_s=6.0):
        self.question, self.interrupt, self.wait_s, self.tail_s = (
            question,
            interrupt,
            wait_s,
            tail_s,
        )
        self.player = None
        self.yielded = 0
        self.onset_frame = None
        self.question_end_frame = None

    def _emit(self, x):
        self.yielded += x.size
        return x

    def __iter__(self):
        yield self._emit(silence(0.4))
        yield self._emit(self.question)
        self.question_end_frame = self.yielded
        if self.interrupt is not None:
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                p = self.player
                if (
                    p is not None
                    and p.first_audio_time is not None
                    and time.perf_counter() - p.first_audio_time >= self.wait_s
                ):
                    break
                yield self._emit(silence(BLOCK / SR))
            self.onset_frame = self.yielded + int(np.argmax(np.abs(self.interrupt) > 0.01))
            yield self._emit(self.interrupt)
        yield self._emit(silence(self.tail_s))


def make_loop(assistant, script, vad, **kw):
    holder = {}

    def make_in(cb):
        holder["in"] = FileInputStream(iter(script), samplerate=SR, blocksize=BLOCK, callback=cb)
        return holder["in"]

    def make_out(cb):
        holder["out"] = FileOutputStream(samplerate=24000, blocksize=480, callback=cb)
        return holder["out"]

    view = TranscriptView(Console(file=open("/dev/null", "w")))
    loop = VoiceLoop(
        assistant,
        make_input=make_in,
        make_output=make_out,
        thread_id="t-live",
        on_event=view.handle,
        vad_model=vad,
        **kw,
    )
    if isinstance(script, Script):
        script.player = loop.player
    return loop, holder["in"], holder["out"], view


def test_turn_plays_first_chunk_then_barge_in_stops_playback_and_cancels(vad):
    bot = SpeakingAssistant()
    script = Script(
        speech("What time is it in Tokyo?"), interrupt=speech("Wait, stop. What about London?")
    )
    loop, ins, out, view = make_loop(bot, script, vad, endpoint=EndpointConfig(silence_ms=500))
    s = loop.session
    loop.run(
        until=lambda s: len(s.turns) >= 2 and s.turns[1].first_chunk_time is not None,
        max_seconds=40,
    )

    assert len(s.turns) == 2, view.lines
    t0, t1 = s.turns
    # turn 1: endpointed from the question, playback started as soon as the first chunk existed
    assert (
        t0.first_chunk_time is not None
        and t0.speech_end_sample <= script.question_end_frame + 0.1 * SR
    )
    # barge-in: exactly one, while playing, within 300 ms of the interruption's onset
    assert len(s.barge_ins) == 1 and s.barge_ins[0]["was_playing"]
    onset_wall = ins.wall_time_of(script.onset_frame)
    stop_wall = s.barge_ins[0]["time"]
    assert stop_wall is not None and onset_wall is not None
    latency = stop_wall - onset_wall
    assert 0 < latency < 0.3, latency
    # the next output block after the stop is silent, and so are the following ones
    k = next(i for i, t in enumerate(out.block_times) if t > stop_wall)
    rec = out.recorded()
    assert not np.any(rec[k * 480 : (k + 10) * 480])
    assert np.any(rec[: (k - 1) * 480])  # the reply had been audible before
    # generation was cancelled and stopped promptly
    assert t0.cancelled and t0.result is not None and t0.result.info["cancelled"] is True
    assert t0.done_time - stop_wall < 1.0
    assert t0.result.info["chunks"] < 30  # not the whole reply
    # the interruption became the next turn, with its own reply
    assert t1.first_chunk_time is not None and bot.calls[1]["seconds"] > 1.0
    assert any("tool call: get_time" in ln for ln in view.lines)
    assert any(ln.startswith("interrupted") for ln in view.lines)


def test_reply_plays_to_the_end_without_interruption(vad):
    bot = SpeakingAssistant(reply="It is ten o'clock. Have a nice evening.")
    script = Script(speech("What time is it?"), interrupt=None, tail_s=8)
    loop, ins, out, view = make_loop(bot, script, vad)
    loop.run(
        until=lambda s: (
            len(s.turns) == 1 and s.turns[0].done_time is not None and not loop.player.active
        ),
        max_seconds=30,
    )
    t0 = loop.session.turns[0]
    assert not t0.cancelled and not loop.session.barge_ins
    played = np.abs(out.recorded()) > 1e-4
    assert played.sum() / 24000 > 1.0  # most of the ~2 s reply came out of the speaker
    # end of speech -> first audio: endpoint silence + think + one block, no buffering of the whole reply
    assert loop.player.first_audio_time - t0.endpoint_time < 6.0  # generous: a busy 2-core machine
    assert any(ln.startswith("you:") for ln in view.lines)
    assert any(ln.startswith("assistant:") for ln in view.lines)


def test_barge_in_can_be_disabled(vad):
    bot = SpeakingAssistant()
    script = Script(
        speech("What time is it?"), interrupt=speech("Hello there, hello."), wait_s=0.3, tail_s=4
    )
    loop, ins, out, view = make_loop(bot, script, vad, barge_in=False)
    loop.run(
        until=lambda s: (
            s.turns
            and s.turns[0].done_time is not None
            and script.onset_frame is not None
            and ins.frames_done > script.onset_frame + 3 * SR
        ),
        max_seconds=40,
    )
    s = loop.session
    assert not s.barge_ins and len(s.turns) == 1
    assert s.turns[0].done_time is not None and not s.turns[0].cancelled


def test_push_to_talk_records_between_press_and_release_and_barges_in(vad):
    bot = SpeakingAssistant()
    q = speech("What time is it in Tokyo?")
    holder = {}

    def script():
        yield silence(0.3)
        holder["s"].press()
        yield q
        yield silence(0.1)
        holder["s"].release()
        deadline = time.perf_counter() + 20
        while loop.player.first_audio_time is None and time.perf_counter() < deadline:
            yield silence(BLOCK / SR)
        yield silence(0.3)
        holder["press_at"] = time.perf_counter()
        holder["s"].press()  # talking over the reply
        yield speech("Stop.")
        holder["s"].release()
        yield silence(3)

    loop, ins, out, view = make_loop(bot, script(), vad, push_to_talk=True)
    holder["s"] = loop.session
    loop.run(until=lambda s: len(s.turns) >= 2 and s.turns[1].done_time is not None, max_seconds=40)
    s = loop.session
    assert len(s.turns) == 2
    assert abs(s.turns[0].audio_seconds - (q.size / SR + 0.1)) < 0.1  # exactly the held span
    assert s.turns[0].cancelled and len(s.barge_ins) == 1
    assert s.barge_ins[0]["time"] - holder["press_at"] < 0.3


def test_close_cancels_a_running_turn_promptly(vad):
    bot = SpeakingAssistant(chunk_s=0.05)
    script = Script(speech("What time is it in Tokyo?"), tail_s=10)
    loop, ins, out, view = make_loop(bot, script, vad)
    loop.run(until=lambda s: s.turns and s.turns[0].first_chunk_time is not None, max_seconds=30)
    t0 = loop.session.turns[0]  # run() returned: the loop closed itself (the Ctrl-C path)
    assert t0.done_time is not None and t0.cancelled
    assert t0.result is not None and t0.result.info["cancelled"] is True
    assert not ins.active and not out.active
