"""The streaming turn on the real graph: speech starts while the policy generates, barge-in
records what was heard, the step limit ends a turn with a spoken reply and no unanswered
tool call, and per-turn information travels in events (concurrent turns cannot mix)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from agents import Assistant
from agents.nodes import STEP_LIMIT_REPLY
from model.embedded.policy import EmbeddedPolicy
from model.embedded.tts import PiperSpeaker
from model.events import AudioChunk, AudioTokens, Done, TextDelta, ToolCall, TurnDone
from model.messages import AudioTokensPart
from model.policy import CancelToken
from model.registry import get_policy
from model.stepaudio2.tiny import write_tiny_checkpoint


@pytest.fixture(scope="module")
def speaking_sa2(tmp_path_factory):
    """A tiny Step-Audio 2 checkpoint (with a tiny token2wav) whose replies are ~100 codes."""
    d = tmp_path_factory.mktemp("sa2")
    ckpt = write_tiny_checkpoint(d / "ckpt", speech_bias=200.0, max_new_tokens=100)
    return get_policy("step-audio-2", model_dir=ckpt, device="cpu", seed=0)


def test_step_audio_2_speaks_before_generation_ends(speaking_sa2, tmp_path, speak):
    import soundfile as sf

    a = Assistant(speaking_sa2, tmp_path / "home", tools=[])
    samples, rate = sf.read(speak("Tell me about the sea."), dtype="float32")
    events = list(a.stream_turn(samples, rate, thread_id="stream"))
    a.close()
    kinds = [e.type for e in events]
    first_audio = kinds.index("audio_chunk")
    last_codes = len(kinds) - 1 - kinds[::-1].index("audio_tokens")
    # the first sound went out while codes were still being generated
    assert first_audio < last_codes
    n_codes = sum(len(e.tokens) for e in events if isinstance(e, AudioTokens))
    assert n_codes >= 75
    # codes arrive in 25s; the first chunk needs 25 + 3 look-ahead codes, not the whole reply
    codes_before = sum(len(e.tokens) for e in events[:first_audio] if isinstance(e, AudioTokens))
    assert codes_before <= 50
    result = events[-1].result
    assert result.info["speech"] == "token2wav"
    # the transcript for the record was made after the first audio, off its path
    assert kinds.index("transcript") > first_audio and "asr_record" in result.timings_ms
    assert result.reply_audio and result.info["reply_duration_s"] == pytest.approx(n_codes / 25, abs=0.05)
    assert {"policy", "tts", "tts_first_chunk", "first_audio", "total"} <= set(result.timings_ms)


def test_barge_in_keeps_only_what_was_heard(speaking_sa2, tmp_path):
    a = Assistant(speaking_sa2, tmp_path / "home", tools=[])
    cancel = CancelToken()
    events = []
    for ev in a.stream_turn(text="tell me a long story", thread_id="barge", cancel=cancel):
        events.append(ev)
        if isinstance(ev, AudioChunk):
            cancel.cancel()  # the user speaks over the first words
    result = events[-1].result
    assert result.info["cancelled"] is True and result.info["done"] == "cancelled"
    ai = [m for m in a.history("barge") if isinstance(m, AIMessage)][-1]
    a.close()
    heard = [p for p in ai.additional_kwargs["stepvox_parts"] if p["type"] == "audio_tokens"]
    generated = sum(len(e.tokens) for e in events if isinstance(e, AudioTokens))
    assert ai.response_metadata.get("interrupted") is True
    assert heard and len(AudioTokensPart(**heard[0]).tokens) < 100
    assert len(heard[0]["tokens"]) <= generated


class ToolLoopPolicy:
    """A policy that asks for a tool every time (a brain stuck in a loop)."""

    name = "loop"

    def __init__(self) -> None:
        self._speaker = PiperSpeaker()
        self.calls = 0

    def speaker(self) -> PiperSpeaker:
        return self._speaker

    def stream(self, messages, tools, *, voice=None, cancel=None) -> Iterator:
        self.calls += 1
        yield TextDelta(text="Let me check.")
        yield ToolCall(id=f"call_{self.calls}", name="ping", arguments={})
        yield Done(reason="tool_calls")


@tool
def ping() -> str:
    """Ping the server."""
    return "pong"


def test_step_limit_ends_the_turn_with_a_spoken_reply_and_no_unanswered_call(tmp_path):
    policy = ToolLoopPolicy()
    a = Assistant(policy, tmp_path / "home", tools=[ping], max_tool_rounds=2)
    events = list(a.stream_turn(text="ping forever", thread_id="loop"))
    result = events[-1].result
    history = a.history("loop")
    a.close()
    assert STEP_LIMIT_REPLY in result.reply_text
    assert policy.calls == 3  # two rounds of tools, then the limit
    calls = {c["id"] for m in history if isinstance(m, AIMessage) for c in m.tool_calls}
    answered = {m.tool_call_id for m in history if isinstance(m, ToolMessage)}
    assert calls and calls == answered
    assert isinstance(history[-1], AIMessage) and history[-1].content == STEP_LIMIT_REPLY
    assert result.tool_calls[-1].is_error and "step limit" in result.tool_calls[-1].result
    # the apology was spoken: audio after the last tool result
    kinds = [e.type for e in events]
    assert "audio_chunk" in kinds[len(kinds) - 1 - kinds[::-1].index("tool_result") :]


def test_concurrent_turns_on_one_policy_keep_their_own_info(tmp_path):
    a = Assistant(EmbeddedPolicy(), tmp_path / "home")
    questions = {"t1": "what is 17 times 23", "t2": "what time is it in Tokyo"}
    results: dict[str, TurnDone] = {}

    def run(thread: str) -> None:
        for ev in a.stream_turn(text=questions[thread], thread_id=thread):
            if isinstance(ev, TurnDone):
                results[thread] = ev

    threads = [threading.Thread(target=run, args=(t,)) for t in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    a.close()
    assert results["t1"].result.info["route"]["name"] == "calculator"
    assert results["t2"].result.info["route"]["name"] == "get_current_time"


def test_mark_heard_keeps_the_sentences_that_were_played(tmp_path):
    a = Assistant(EmbeddedPolicy(), tmp_path / "home")
    chunks = [e for e in a.stream_turn(text="hello", thread_id="heard") if isinstance(e, AudioChunk)]
    texts = [c.text for c in chunks]
    durations = [c.samples.size / c.sample_rate for c in chunks]
    assert len(chunks) >= 2 and texts[0] == "Hello!"
    a.mark_heard("heard", durations[0] * 0.5, texts, durations)  # cut during the first sentence
    ai = [m for m in a.history("heard") if isinstance(m, AIMessage)][-1]
    a.close()
    assert ai.content == "Hello!" and ai.response_metadata["interrupted"] is True


def test_sentence_segment_keeps_every_word_of_a_run_on_stream():
    from model.speech import SentenceSegment

    spoken: list[str] = []
    seg = SentenceSegment(lambda s: spoken.append(s) or iter(()), 16000)
    words = [f"word{i}" for i in range(60)]
    for w in words:
        list(seg.text(w + " "))
    list(seg.end())
    assert " ".join(spoken).split() == words
