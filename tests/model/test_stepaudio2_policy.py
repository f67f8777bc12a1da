"""The step-audio-2 policy on a tiny checkpoint: speech (synthesized by Piper) in, events out;
tool-result turns; cancellation; speaker fallback; a spoken turn through the LangGraph graph."""

import numpy as np
import pytest
import soundfile as sf

from model import get_policy
from model.events import AudioTokens, Done, TextDelta, ToolCall
from model.messages import (
    AudioPart,
    AudioTokensPart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from model.policy import CancelToken, ToolSpec
from model.stepaudio2.tiny import shared_tiny_checkpoint

TOOLS = [
    ToolSpec(
        name="get_time",
        description="Current time in a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
]


@pytest.fixture(scope="module")
def policy():
    return get_policy(
        "step-audio-2", model_dir=shared_tiny_checkpoint(), device="cpu", max_new_tokens=20, seed=0
    )


@pytest.fixture(scope="module")
def question(speak):
    return speak("What time is it in Tokyo?")


def _user(path):
    info = sf.info(str(path))
    return Message(
        role="user",
        parts=[AudioPart(path=str(path), sample_rate=info.samplerate, duration_s=info.duration)],
    )


def test_speech_in_events_out(policy, question):
    events = list(policy.stream([_user(question)], TOOLS))
    done = events[-1]
    assert isinstance(done, Done) and done.reason in ("stop", "length", "tool_calls")
    assert all(isinstance(e, TextDelta | AudioTokens | ToolCall) for e in events[:-1])
    info = done.info
    dur = sf.info(str(question)).duration
    assert abs(info["audio_patches"] - dur * 12.5) <= 2  # 12.5 patches per second of speech
    assert info["generated_tokens"] <= 20 and info["policy"] == "step-audio-2"
    codes = [c for e in events if isinstance(e, AudioTokens) for c in e.tokens]
    assert info["audio_tokens"] == len(codes) and all(0 <= c < 6561 for c in codes)
    # seeded sampling: the same turn gives the same events
    again = list(policy.stream([_user(question)], TOOLS))
    assert [e.model_dump() for e in again[:-1]] == [e.model_dump() for e in events[:-1]]


def test_tool_result_turn_and_history(policy, question):
    msgs = [
        _user(question),
        Message(
            role="assistant",
            parts=[
                TextPart(text="Let me check."),
                AudioTokensPart(tokens=list(range(30))),
                ToolCallPart(id="c1", name="get_time", arguments={"city": "Tokyo"}),
            ],
        ),  # fmt: skip
        Message(
            role="tool",
            parts=[ToolResultPart(call_id="c1", name="get_time", content="It is 09:00 in Tokyo.")],
        ),
    ]
    first = list(policy.stream(msgs[:1], TOOLS))[-1].info["prompt_tokens"]
    done = list(policy.stream(msgs, TOOLS))[-1]
    assert done.info["prompt_tokens"] > first + 30


def test_cancel_before_first_token(policy):
    cancel = CancelToken()
    cancel.cancel()
    events = list(policy.stream([Message.user_text("hi")], [], cancel=cancel))
    assert [type(e) for e in events] == [Done] and events[0].reason == "cancelled"


def test_speaker_falls_back_to_embedded_tts(policy, tmp_path):
    sp = policy.speaker()  # the shared tiny checkpoint has no token2wav/ folder
    seg = sp.segment(None)
    chunks = [*seg.text("Hello there. "), *seg.tokens([1, 2, 3]), *seg.end()]
    assert chunks and chunks[0].samples.dtype == np.float32 and chunks[0].sample_rate == 22050
    assert chunks[0].text == "Hello there."  # each chunk says which sentence it speaks
    assert seg.info == {
        "speech": "embedded-tts-fallback",
        "speech_detail": f"{policy.model_dir / 'token2wav'} does not exist",
    }


def test_bad_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not a Step-Audio 2 checkpoint"):
        get_policy("step-audio-2", model_dir=tmp_path)
    with pytest.raises(ValueError, match="needs model_dir"):
        get_policy("step-audio-2")


def test_spoken_turn_through_the_graph(policy, question, tmp_path):
    from agents import Assistant

    a = Assistant(policy, tmp_path / "home", tool_timeout_s=3.0)
    try:
        samples, rate = sf.read(str(question), dtype="float32")
        res = a.respond(samples, rate, thread_id="t1", out_path=tmp_path / "reply.wav")
    finally:
        a.close()
    assert res.policy == "step-audio-2"
    assert (
        res.info.get("speech") == "embedded-tts-fallback"
    )  # no token2wav/ in the shared tiny checkpoint
    assert res.reply_audio and sf.info(res.reply_audio).frames > 0 or not res.reply_text.strip()


class ScriptedGenerator:
    """Stands in for the decoder only: replays fixed token ids, records each request."""

    def __init__(self, scripts):
        self.scripts = list(scripts)
        self.requests = []

    def stream(self, requests, params, *, cancel=None, on_token=None, results=None):
        from model.stepaudio2.generation import GenerationResult, StepOutput

        self.requests.append(requests[0])
        script = self.scripts.pop(0)
        for i, t in enumerate(script, 1):
            yield StepOutput(step=i, tokens=[t])
        if results is not None:
            results[:] = [
                GenerationResult(
                    tokens=script, finish_reason="stop", prompt_tokens=len(requests[0].input_ids)
                )
            ]


def test_malformed_tool_call_goes_back_to_the_model_as_an_error(question):
    pol = get_policy("step-audio-2", model_dir=shared_tiny_checkpoint(), device="cpu")
    m, tok, ids, _ = pol.load()

    def enc(s):
        return tok(s, add_special_tokens=False)["input_ids"]

    open_, close = (
        tok.convert_tokens_to_ids("<tool_call>"),
        tok.convert_tokens_to_ids("</tool_call>"),
    )
    bad = [
        *enc("Checking"),
        ids.audio_offset + 7,
        ids.tts_end,
        open_,
        *enc('function\nget_time\n{"city": Tok'),
        close,
        ids.eot,
    ]
    unknown = [open_, *enc('function\nget_weather\n{"city": "Tokyo"}'), close, ids.eot]
    good = [open_, *enc('function\nget_time\n{"city": "Tokyo"}'), close, ids.eot]
    scripted = ScriptedGenerator([bad, unknown, good])
    pol._loaded = (m, tok, ids, scripted)
    events = list(pol.stream([_user(question)], TOOLS))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [("get_time", {"city": "Tokyo"})]
    assert events[-1].reason == "tool_calls"
    errs = events[-1].info["tool_errors"]
    assert (
        "arguments of get_time are not valid JSON" in errs[0]
        and "no tool named 'get_weather'" in errs[1]
    )
    second = tok.decode(scripted.requests[1].input_ids, skip_special_tokens=False)
    assert second.endswith("<|BOT|>input\nError: arguments of get_time are not valid JSON: Expecting value at char 9. "
                           "Call the tool again with valid JSON arguments.<|EOT|><|BOT|>assistant\n<tts_start>")  # fmt: skip
    assert [c for e in events if isinstance(e, AudioTokens) for c in e.tokens] == [7]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Checking"


def test_think_variant_reasons_then_speaks(question):
    pol = get_policy("step-audio-2", model_dir=shared_tiny_checkpoint(), device="cpu", think=True)
    m, tok, ids, _ = pol.load()

    def enc(s):
        return tok(s, add_special_tokens=False)["input_ids"]

    reasoning = enc("They ask the time.</think>")
    reply = [*enc("It is nine."), ids.audio_offset + 1, ids.audio_offset + 2, ids.tts_end, ids.eot]
    scripted = ScriptedGenerator([reasoning + enc("never reached"), reply])
    pol._loaded = (m, tok, ids, scripted)
    events = list(pol.stream([_user(question)], []))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is nine."
    assert [c for e in events if isinstance(e, AudioTokens) for c in e.tokens] == [1, 2]
    assert events[-1].info["thinking"] == "They ask the time."
    first = tok.decode(scripted.requests[0].input_ids, skip_special_tokens=False)
    second = tok.decode(scripted.requests[1].input_ids, skip_special_tokens=False)
    assert first.endswith("<|BOT|>assistant\n<think>\n")
    assert second.endswith("<think>\nThey ask the time.</think>\n\n<tts_start>")
