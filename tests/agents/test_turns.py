"""Spoken turns through the real graph on the embedded offline policy.

Questions are spoken by the embedded Piper TTS, heard by faster-whisper, routed by
MiniLM, answered by the real tools, and spoken back; conversations are checkpointed
in SQLite."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from agents import Assistant
from model.embedded.policy import EmbeddedPolicy
from model.events import AudioChunk, ToolCall, ToolResult, Transcript, TurnDone

CORPUS = {
    "harbor_street_library.md": """# Harbor Street Library

## History
The Harbor Street Library was founded in 1897 by Margaret Ellis, a schoolteacher who
donated her own collection of four hundred books. The reading room was added in 1921.

## Opening hours
The library opens at nine in the morning and closes at six in the evening, every day except Monday.
""",
    "garden_club.txt": """The Riverside Garden Club meets on the first Saturday of every month.
Members grow tomatoes, beans and sunflowers in the community plot behind the old mill.
""",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    h = tmp_path_factory.mktemp("home")
    docs = h / "docs"
    docs.mkdir()
    for name, text in CORPUS.items():
        (docs / name).write_text(text)
    from retrieval import CorpusStore

    CorpusStore(h / "corpora").add([docs], name="test")
    return h


@pytest.fixture(scope="module")
def assistant(home):
    a = Assistant(EmbeddedPolicy(), home, tool_timeout_s=3.0)
    yield a
    a.close()


def ask(assistant, speak, text, thread, **kw):
    samples, rate = sf.read(speak(text, **kw), dtype="float32")
    return assistant.respond(samples, rate, thread_id=thread)


def test_time_in_tokyo_calls_get_current_time_with_asia_tokyo(assistant, speak, tmp_path):
    samples, rate = sf.read(speak("What time is it in Tokyo?"), dtype="float32")
    out = tmp_path / "reply.wav"
    r = assistant.respond(samples, rate, thread_id="tokyo", out_path=out)
    assert "tokyo" in r.transcript.lower()
    assert [c.name for c in r.tool_calls] == ["get_current_time"]
    assert r.tool_calls[0].arguments["timezone"] == "Asia/Tokyo"
    assert "Tokyo" in r.reply_text
    audio, sr = sf.read(out)
    assert sr == 22050 and len(audio) / sr > 1.0 and np.abs(audio).max() > 0.05
    assert {"vad", "asr", "policy", "tools", "tts", "first_audio", "total"} <= set(r.timings_ms)


def test_arithmetic_reply_says_391(assistant, speak):
    r = ask(assistant, speak, "What is 17 times 23?", "calc")
    assert [c.name for c in r.tool_calls] == ["calculator"]
    assert json.loads(r.tool_calls[0].result)["result"] == 391
    assert "391" in r.reply_text


def test_knowledge_question_is_answered_from_the_corpus_with_its_source(assistant, speak):
    r = ask(assistant, speak, "Who founded the Harbor Street Library?", "kb")
    assert r.tool_calls[0].name == "retrieve_knowledge"
    assert "Margaret Ellis" in r.reply_text
    assert "Harbor Street Library" in r.reply_text.split(":")[0]  # the source is named


def test_a_request_no_tool_serves_gets_a_polite_refusal(assistant, speak):
    r = ask(assistant, speak, "Please order me a large pizza.", "pizza")
    assert r.tool_calls == []
    assert "can't help" in r.reply_text


def test_follow_up_in_the_same_thread_uses_the_first_turn(assistant, speak, home):
    r1 = ask(assistant, speak, "What time is it in Tokyo?", "follow")
    assert r1.tool_calls[0].arguments["timezone"] == "Asia/Tokyo"
    r2 = ask(assistant, speak, "And what about London?", "follow")
    assert [c.name for c in r2.tool_calls] == ["get_current_time"]
    assert r2.tool_calls[0].arguments["timezone"] == "Europe/London"
    # the conversation survives a restart: a new Assistant on the same home sees both turns
    again = Assistant(EmbeddedPolicy(), home)
    users = [m for m in again.history("follow") if m.type == "human"]
    again.close()
    assert len(users) == 2 and "london" in users[1].content.lower()


def test_look_it_up_when_unsure_then_say_i_dont_know(assistant, speak):
    r = ask(assistant, speak, "What is the capital of Mongolia?", "unsure")
    names = [c.name for c in r.tool_calls]
    assert names[0] == "retrieve_knowledge" and "web_search" in names
    web = r.tool_calls[names.index("web_search")]
    if web.is_error:  # offline: say so in one sentence, never invent
        assert "don't know" in r.reply_text.lower()


def test_web_search_offline_is_spoken_gracefully(assistant, speak):
    r = ask(assistant, speak, "Search the web for the latest news about Mars.", "web")
    assert r.tool_calls[0].name == "web_search"
    assert "mars" in r.tool_calls[0].arguments["query"].lower()
    if r.tool_calls[0].is_error:
        assert r.reply_text.startswith("Sorry, I couldn't search the web")
        assert r.reply_text.count(".") <= 2


def test_events_stream_in_order(assistant, speak):
    samples, rate = sf.read(speak("What's the time in Berlin right now?", length_scale=1.15), dtype="float32")
    kinds = []
    for ev in assistant.stream_turn(samples, rate, thread_id="events"):
        kinds.append(type(ev))
    assert kinds[-1] is TurnDone
    order = [k for k in kinds if k in (Transcript, ToolCall, ToolResult, AudioChunk)]
    first = {k: order.index(k) for k in (Transcript, ToolCall, ToolResult, AudioChunk)}
    assert first[Transcript] < first[ToolCall] < first[ToolResult] < first[AudioChunk]


def test_silence_gets_a_request_to_repeat(assistant):
    r = assistant.respond(np.zeros(16000, np.float32), 16000, thread_id="silence")
    assert r.tool_calls == [] and "didn't catch" in r.reply_text


def test_a_developer_tool_is_routed_by_its_description_and_examples(home, speak):
    from langchain_core.tools import StructuredTool

    switched = []

    def set_lights(request: str) -> str:
        """Switch the lights on or off in a room of the house."""
        switched.append(request)
        return "The kitchen lights are now on."

    lights = StructuredTool.from_function(
        set_lights, metadata={"examples": ["turn on the lights", "switch off the bedroom light"]}
    )
    a = Assistant(EmbeddedPolicy(), home, extra_tools=[lights])
    samples, rate = sf.read(speak("Please turn on the lights in the kitchen."), dtype="float32")
    r = a.respond(samples, rate, thread_id="lights")
    a.close()
    assert [c.name for c in r.tool_calls] == ["set_lights"] and switched
    assert "kitchen lights are now on" in r.reply_text


def _libri(reader: str):
    from pathlib import Path

    from tests.conftest import VOICES_DEV

    base = VOICES_DEV if VOICES_DEV.is_dir() else Path("/work/shared/data/voices-dev")
    files = sorted(base.glob(f"{reader}-*.flac"))
    if not files:
        pytest.skip(f"{base}: LibriSpeech reader {reader} not available")
    return files[0]


def test_voice_requests_switch_the_active_voice_for_the_next_replies(home, speak, tmp_path):
    from voices import VoiceLibrary

    lib = VoiceLibrary(home / "voices")
    ada = lib.add(_libri("103"), name="Ada", description="a clear, friendly female reader")  # F
    lib.add(_libri("118"), name="Bruno", description="a calm male narrator")  # M
    lib.close()
    a = Assistant(EmbeddedPolicy(), home)
    try:
        samples, rate = sf.read(speak("Use the voice called Ada."), dtype="float32")
        events = list(a.stream_turn(samples, rate, thread_id="voice"))
        r1 = events[-1].result
        assert r1.tool_calls[0].name == "audio_search" and r1.voice == ada.id
        assert any(e.type == "voice_changed" and e.voice_id == ada.id for e in events)
        assert "Ada" in r1.reply_text
        # the next reply in the thread keeps the voice (Piper mapped to Ada's pitch and rate)
        out_default, out_ada = tmp_path / "default.wav", tmp_path / "ada.wav"
        q, qr = sf.read(speak("What is 17 times 23?"), dtype="float32")
        r2 = a.respond(q, qr, thread_id="voice", out_path=out_ada)
        r0 = a.respond(q, qr, thread_id="voice-default", out_path=out_default)
        assert r2.voice == ada.id and r0.voice == "default"
        assert "391" in r2.reply_text
        x_ada, x_def = sf.read(out_ada)[0], sf.read(out_default)[0]
        assert len(x_ada) != len(x_def) or np.abs(x_ada - x_def).max() > 0.05
        # a description picks a voice whose estimated attributes fit it
        m, mr = sf.read(speak("Switch to a calm male voice."), dtype="float32")
        r3 = a.respond(m, mr, thread_id="voice")
        assert r3.tool_calls[0].name == "audio_search"
        chosen = json.loads(r3.tool_calls[0].result)["voices"][0]
        assert chosen["name"] == "Bruno" and r3.voice == chosen["id"]
    finally:
        a.close()
