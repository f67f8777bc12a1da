"""silero-vad endpointing on real (Piper-synthesized) speech."""

import numpy as np
import pytest

from assistant.live.endpointer import (
    EndpointConfig,
    Endpointer,
    SpeechAbort,
    SpeechEnd,
    SpeechStart,
    load_vad,
)
from tests.live.audio_helpers import silence, speech

SR = 16000


@pytest.fixture(scope="module")
def vad():
    return load_vad()


def run(ep: Endpointer, x: np.ndarray, block: int = 320):
    out = []
    for i in range(0, x.size, block):
        for ev in ep.feed(x[i : i + block]):
            out.append((i + block, ev))
    return out


def onset_of(x: np.ndarray) -> int:
    return int(np.argmax(np.abs(x) > 0.01))


def test_one_utterance_start_and_end(vad):
    q = speech("What time is it in Tokyo?")
    lead = silence(1.0)
    x = np.concatenate([lead, q, silence(1.5)])
    evs = run(Endpointer(EndpointConfig(silence_ms=600), model=vad), x)
    kinds = [type(e).__name__ for _, e in evs]
    assert kinds == ["SpeechStart", "SpeechEnd"], kinds
    (t_start, start), (t_end, end) = evs
    onset = lead.size + onset_of(q)
    assert abs(start.start - onset) < 0.15 * SR  # onset located within 150 ms
    assert t_start - onset < 0.2 * SR  # and reported within 200 ms
    speech_end = lead.size + q.size
    assert speech_end - 0.4 * SR < end.end <= speech_end + 0.1 * SR
    # declared after the configured silence (not before), well before the trailing audio ends
    assert 0.55 * SR <= t_end - end.end <= 0.75 * SR
    # the utterance holds the whole question plus pre-roll
    assert end.audio.size >= q.size * 0.9


def test_silence_setting_moves_the_endpoint(vad):
    q = speech("Tell me the weather in Paris.")
    x = np.concatenate([silence(0.5), q, silence(2.0)])
    ends = {}
    for ms in (300, 1200):
        evs = run(Endpointer(EndpointConfig(silence_ms=ms), model=vad), x)
        ends[ms] = next(t for t, e in evs if isinstance(e, SpeechEnd))
    assert 0.7 * SR < ends[1200] - ends[300] < 1.1 * SR


def test_short_pause_does_not_split_but_long_pause_does(vad):
    a, b = speech("Good morning."), speech("How are you today?")
    short = np.concatenate([silence(0.5), a, silence(0.25), b, silence(1.2)])
    evs = run(Endpointer(EndpointConfig(silence_ms=700), model=vad), short)
    assert sum(isinstance(e, SpeechEnd) for _, e in evs) == 1
    long = np.concatenate([silence(0.5), a, silence(1.2), b, silence(1.2)])
    evs = run(Endpointer(EndpointConfig(silence_ms=700), model=vad), long)
    assert sum(isinstance(e, SpeechEnd) for _, e in evs) == 2


def test_noise_and_clicks_are_not_speech(vad):
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(3 * SR) * 0.003).astype(np.float32)
    noise[SR : SR + 80] += 0.8  # a click
    evs = run(Endpointer(EndpointConfig(), model=vad), noise)
    assert not any(isinstance(e, SpeechEnd) for _, e in evs)


def test_min_speech_turns_short_blip_into_abort(vad):
    blip = speech("Hm.")
    x = np.concatenate([silence(0.5), blip, silence(1.5)])
    evs = run(Endpointer(EndpointConfig(min_speech_ms=2000), model=vad), x)
    assert [type(e) for _, e in evs] in ([SpeechStart, SpeechAbort], [])


def test_force_end_returns_the_utterance(vad):
    q = speech("What is on my calendar?")
    ep = Endpointer(EndpointConfig(silence_ms=2000), model=vad)
    run(ep, np.concatenate([silence(0.3), q]))
    assert ep.speaking
    ev = ep.force_end()
    assert isinstance(ev, SpeechEnd) and ev.audio.size > 0.8 * q.size
    assert not ep.speaking
