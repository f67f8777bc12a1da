"""The web protocol's JSON is the event vocabulary: every event round-trips through
`event_json` -> `parse_event`, and client messages are validated (unit level; the socket-level
checks are in test_server.py)."""

import json
import typing

import numpy as np
import pytest

from assistant.server.protocol import (
    Approve,
    BadMessage,
    Deny,
    Mode,
    Ping,
    Playback,
    Ptt,
    Reply,
    SelectVoice,
    Start,
    decision_problem,
    outgoing,
    parse_client_message,
)
from model import events as E

RESULT = E.TurnResult(
    transcript="What time is it in Tokyo?",
    reply_text="It is ten in the evening in Tokyo.",
    tool_calls=[
        E.ToolCallRecord(name="get_current_time", arguments={"zone": "Asia/Tokyo"}, result="22:00")
    ],
    voice="v2",
    reply_audio="/tmp/reply.wav",
    policy="embedded",
    thread="t1",
    timings_ms={"asr": 812.5, "policy": 3.0},
    info={"cancelled": False, "speech": "piper"},
)

SAMPLES = [
    E.Transcript(text="What time is it in Tokyo?"),
    E.TextDelta(text="It is ten "),
    E.AudioTokens(tokens=[0, 17, 6560]),
    E.ToolCall(id="c1", name="get_current_time", arguments={"zone": "Asia/Tokyo"}),
    E.Done(reason="tool_calls", confidence=0.9, info={"chunks": 3}),
    E.AudioChunk(
        samples=np.sin(np.linspace(0, 40, 1600, dtype=np.float32)) * 0.8,
        sample_rate=22050,
        text="It is ten in the evening.",
    ),
    E.ToolResult(id="c1", name="get_current_time", content="22:00", is_error=False),
    E.VoiceChanged(voice_id="v7", name="Arthur", attributes={"gender": "male"}),
    E.Timing(stage="asr", ms=812.5),
    E.Waiting(kind="approval", calls=[E.ToolCall(id="c2", name="calculator", arguments={"expression": "6 * 7"})]),
    E.TurnDone(result=RESULT),
    E.SpeechStarted(sample=4800),
    E.SpeechEnded(sample=40000, seconds=2.2),
    E.SpeechAborted(sample=100, reason="too short"),
    E.PushToTalk(pressed=False, seconds=1.5),
    E.TurnStarted(turn=0, seconds=2.2),
    E.BargeIn(
        onset_sample=1000, detected_sample=2536, detect_ms=96.0, was_playing=True, turn_running=True
    ),
    E.TurnCancelled(turn=0),
    E.VoiceSelected(voice_id="v2"),
    E.Error(message="RuntimeError: boom", turn=1),
    E.Status(state="loading"),
    E.Ready(
        thread_id="web-1", output_sample_rate=48000, policy="embedded", mode="ptt", barge_in=False
    ),
    E.StopPlayback(),
    E.Pong(),
]


def test_samples_cover_every_event_type():
    union = typing.get_args(typing.get_args(E.Event)[0])
    assert {c for c in union} == {type(ev) for ev in SAMPLES}


@pytest.mark.parametrize("ev", SAMPLES, ids=lambda ev: ev.type)
def test_every_event_round_trips_through_its_json(ev):
    data = E.event_json(ev)
    text = json.dumps(data)  # plain JSON, no numpy or other objects left
    for back in (E.parse_event(data), E.parse_event(text), E.parse_event(text.encode())):
        assert type(back) is type(ev)
        if isinstance(ev, E.AudioChunk):
            assert isinstance(data["samples"], str)  # base64 PCM16
            assert back.samples.dtype == np.float32 and back.samples.shape == ev.samples.shape
            # PCM16 as model/events.py encodes it today (truncating, see below): within 2 LSB
            assert np.max(np.abs(back.samples - ev.samples)) <= 1 / 32768
            assert (back.sample_rate, back.text) == (ev.sample_rate, ev.text)
        else:
            assert back == ev
            assert E.event_json(back) == data


def test_audio_chunk_pcm16_is_within_one_lsb():
    ev = next(e for e in SAMPLES if isinstance(e, E.AudioChunk))
    back = E.parse_event(json.dumps(E.event_json(ev)))
    assert np.max(np.abs(back.samples - ev.samples)) <= 1 / 32768
    assert E.event_json(back) == E.event_json(ev)  # re-encoding decoded PCM16 is lossless


def test_audio_chunk_clips_and_keeps_full_scale():
    ev = E.AudioChunk(
        samples=np.array([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0], np.float32), sample_rate=16000
    )
    back = E.parse_event(json.dumps(E.event_json(ev)))
    want = np.array([-1.0, -1.0, 0.0, 0.5, 1.0, 1.0], np.float32)
    assert np.max(np.abs(back.samples - want)) <= 1 / 32768


def test_the_socket_sends_events_as_json_but_never_audio():
    for ev in SAMPLES:
        msg = outgoing(ev)
        if ev.type in ("audio_chunk", "audio_tokens"):
            assert msg is None
        else:
            assert msg == E.event_json(ev) and type(E.parse_event(msg)) is type(ev)
    assert outgoing(object()) is None and outgoing({"type": "pong"}) is None


def test_client_messages_parse_into_their_types():
    s = parse_client_message(
        '{"type": "start", "sample_rate": 48000, "mode": "ptt", "voice_id": null}'
    )
    assert isinstance(s, Start) and s.sample_rate == 48000 and s.output_sample_rate is None
    assert s.mode == "ptt" and s.barge_in is True and s.voice_id is None
    assert parse_client_message('{"type": "start"}').sample_rate == 16000
    assert parse_client_message('{"type": "voice", "voice_id": "v2"}') == SelectVoice(
        type="voice", voice_id="v2"
    )
    assert parse_client_message('{"type": "ptt", "pressed": true}') == Ptt(type="ptt", pressed=True)
    assert isinstance(parse_client_message('{"type": "mode", "mode": "vad"}'), Mode)
    assert isinstance(parse_client_message('{"type": "playback", "state": "idle"}'), Playback)
    assert isinstance(parse_client_message(b'{"type": "ping"}'), Ping)
    assert parse_client_message('{"type": "approve"}').decision() == {"approved": True, "reason": None}
    deny = parse_client_message('{"type": "deny", "reason": "not today"}')
    assert isinstance(deny, Deny) and deny.decision() == {"approved": False, "reason": "not today"}
    reply = parse_client_message('{"type": "reply", "text": "Ships Monday.\\nSam"}')
    assert isinstance(reply, Reply) and reply.decision() == {"reply": "Ships Monday.\nSam"}


def test_a_decision_must_answer_what_the_conversation_waits_for():
    approval = E.Waiting(kind="approval", calls=[E.ToolCall(name="calculator", arguments={})])
    handoff = E.Waiting(kind="handoff", reason="asked for a person")
    approve, reply = Approve(type="approve"), Reply(type="reply", text="Hello.")
    assert decision_problem(approve, approval) is None and decision_problem(reply, handoff) is None
    assert "not waiting" in decision_problem(approve, None)
    assert "'reply'" in decision_problem(approve, handoff)
    assert "'approve' or 'deny'" in decision_problem(reply, approval)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("not json", ["not JSON"]),
        ("[1, 2]", ["JSON object", "list"]),
        ('{"kind": "ptt"}', ["type"]),
        ('{"type": "dance"}', ["dance", "start", "ping"]),
        ('{"type": "ptt"}', ["'ptt'", "pressed", "required"]),
        ('{"type": "ptt", "pressed": "maybe"}', ["pressed", "bool"]),
        ('{"type": "mode", "mode": "loud"}', ["mode", "'vad'", "'ptt'"]),
        ('{"type": "start", "sample_rate": 5}', ["sample_rate", "8000"]),
        ('{"type": "start", "output_sample_rate": 10000000}', ["output_sample_rate", "192000"]),
        ('{"type": "playback", "state": "busy"}', ["state", "'idle'"]),
        ('{"type": "voice", "voice": "v2"}', ["voice", "not permitted"]),
        ('{"type": "approve", "reason": 5}', ["'approve'", "reason", "string"]),
        ('{"type": "reply", "text": ""}', ["'reply'", "text", "empty"]),
    ],
)
def test_a_bad_client_message_names_the_problem(text, names):
    with pytest.raises(BadMessage) as exc:
        parse_client_message(text)
    for n in names:
        assert n in str(exc.value), str(exc.value)
