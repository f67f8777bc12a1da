"""RemotePolicy against real local HTTP servers on loopback: `stepvox serve-model`'s app on a
tiny checkpoint, and a stdlib server replaying a vLLM-style SSE reply with tool calls."""

import base64
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
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
from model.policy import PolicyUnavailable, ToolSpec
from model.remote import RemotePolicy, chat_url, to_openai_messages
from model.stepaudio2.policy import StepAudio2Policy
from model.stepaudio2.server import create_app
from model.stepaudio2.tiny import shared_tiny_checkpoint

TOOLS = [
    ToolSpec(
        name="get_time",
        description="Current time",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    p = tmp_path_factory.mktemp("a") / "q.wav"
    t = np.arange(int(22050 * 1.2)) / 22050
    sf.write(p, (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), 22050)
    return p


@pytest.fixture(scope="module")
def server():
    import uvicorn

    policy = StepAudio2Policy(shared_tiny_checkpoint(), device="cpu", max_new_tokens=16, seed=0)
    policy.load()
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(policy, "tiny"), host="127.0.0.1", port=port, log_level="warning")
    )
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


def test_url_forms():
    assert chat_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_remote_policy_streams_from_serve_model(server, wav):
    pol = get_policy("remote", base_url=server, model="tiny", seed=0, max_tokens=16)
    msgs = [
        Message(
            role="user", parts=[TextPart(text="hi"), AudioPart(path=str(wav), sample_rate=22050)]
        )
    ]
    events = list(pol.stream(msgs, TOOLS))
    assert isinstance(events[-1], Done) and events[-1].reason in ("stop", "length", "tool_calls")
    assert events[-1].info["usage"]["completion_tokens"] == 16 or events[-1].reason != "length"
    assert all(isinstance(e, TextDelta | AudioTokens | ToolCall | Done) for e in events)
    for e in events:
        if isinstance(e, AudioTokens):
            assert all(0 <= c < 6561 for c in e.tokens)
    assert pol.speaker().segment(None).info["speech"] == "embedded-tts-fallback"


def test_server_non_streaming_openai_shape(server, wav):
    data = base64.b64encode(wav.read_bytes()).decode()
    body = {
        "model": "tiny", "max_tokens": 8, "seed": 1, "tts_output": True, "tools": [{"type": "function", "function": {"name": "get_time"}}],
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "human", "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]}],
    }  # fmt: skip
    r = httpx.post(server + "/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == 200
    out = r.json()
    msg = out["choices"][0]["message"]
    assert set(msg["tts_content"]) == {"tts_text", "tts_audio"}
    assert out["usage"]["completion_tokens"] <= 8 and out["usage"]["prompt_tokens"] > 20
    assert httpx.get(server + "/v1/models").json()["data"][0]["id"] == "tiny"


@pytest.mark.parametrize(
    "body, error",
    [
        ({"messages": []}, "messages must be a non-empty list"),
        (
            {
                "messages": [
                    {
                        "role": "human",
                        "content": [{"type": "input_audio", "input_audio": {"data": "@@@"}}],
                    }
                ]
            },
            "not valid base64",
        ),
        (
            {
                "messages": [
                    {
                        "role": "human",
                        "content": [
                            {
                                "type": "input_audio",
                                "input_audio": {"data": base64.b64encode(b"junk").decode()},
                            }
                        ],
                    }
                ]
            },
            "not a readable wav",
        ),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "unsupported role"),
    ],
)
def test_server_rejects_bad_requests(server, body, error):
    r = httpx.post(server + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400 and error in r.json()["error"]["message"]


# -- a replayed vLLM-style SSE stream ------------------------------------------------------
def _sse_server(chunks_per_request):
    """A real HTTP server that answers each POST with the next scripted SSE reply."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            n = int(self.headers["Content-Length"])
            requests.append(json.loads(self.rfile.read(n)))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for c in chunks_per_request[min(len(requests), len(chunks_per_request)) - 1]:
                self.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, requests


def _delta(d, finish=None):
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def test_remote_parses_tts_content_and_split_tool_calls(wav):
    reply = [
        _delta({"role": "assistant", "content": ""}),
        _delta({"tts_content": {"tts_text": "Let me ", "tts_audio": "<audio_1><audio_2>"}}),
        _delta({"tts_content": {"tts_text": "check.", "tts_audio": "<audio_3><audio_6561>"}}),
        _delta(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"ci'},
                    }
                ]
            }
        ),
        _delta({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Tokyo"}'}}]}),
        _delta({}, "tool_calls"),
    ]
    srv, reqs = _sse_server([reply])
    try:
        pol = RemotePolicy(base_url=f"http://127.0.0.1:{srv.server_port}/v1")
        msgs = [Message(role="user", parts=[AudioPart(path=str(wav), sample_rate=22050)])]
        events = list(pol.stream(msgs, TOOLS))
    finally:
        srv.shutdown()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me check."
    assert [c for e in events if isinstance(e, AudioTokens) for c in e.tokens] == [1, 2, 3]
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "get_time", {"city": "Tokyo"})
    ]
    assert events[-1].reason == "tool_calls"
    req = reqs[0]
    assert req["messages"][-1] == {"role": "assistant", "content": "<tts_start>", "eot": False}
    assert req["continue_final_message"] is True and req["stream"] is True
    human = req["messages"][1]
    assert human["role"] == "human" and human["content"][0]["type"] == "input_audio"
    pcm, rate = sf.read(io.BytesIO(base64.b64decode(human["content"][0]["input_audio"]["data"])))
    assert rate == 16000 and abs(len(pcm) / rate - 1.2) < 0.01
    assert req["tools"][0]["function"]["name"] == "get_time"


def test_raw_tool_call_text_and_malformed_json_retry(wav):
    bad = [
        _delta({"content": '<tool_call>function\nget_time\n{"city": Tok'}),
        _delta({"content": "yo}</tool_call>"}),
        _delta({}, "stop"),
    ]
    good = [
        _delta({"content": "<tool_"}),
        _delta({"content": 'call>function\nget_time\n{"city": "Tokyo"}</tool_call>'}),
        _delta({}, "stop"),
    ]
    srv, reqs = _sse_server([bad, good])
    try:
        pol = RemotePolicy(base_url=f"http://127.0.0.1:{srv.server_port}", speak=False)
        events = list(pol.stream([Message.user_text("time in Tokyo?")], TOOLS))
    finally:
        srv.shutdown()
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [("get_time", {"city": "Tokyo"})]
    assert len(reqs) == 2 and reqs[1]["messages"][-1]["role"] == "input"
    assert "not valid JSON" in reqs[1]["messages"][-1]["content"]
    assert "not valid JSON" in events[-1].info["tool_errors"][0]


def test_history_conversion_and_unreachable_server():
    msgs = [
        Message.user_text("time?"),
        Message(
            role="assistant",
            parts=[
                TextPart(text="Checking"),
                AudioTokensPart(tokens=[5, 6]),
                ToolCallPart(id="c1", name="get_time", arguments={"city": "Oslo"}),
            ],
        ),  # fmt: skip
        Message(
            role="tool", parts=[ToolResultPart(call_id="c1", name="get_time", content="10:00")]
        ),
    ]
    out = to_openai_messages(msgs)
    assert out[1]["tts_content"] == {"tts_text": "Checking", "tts_audio": "<audio_5><audio_6>"}
    assert json.loads(out[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}
    assert out[2] == {"role": "input", "tool_call_id": "c1", "content": "10:00"}
    port = _free_port()
    pol = RemotePolicy(base_url=f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(PolicyUnavailable) as e:
        list(pol.stream([Message.user_text("hi")], []))
    assert str(e.value) == f"remote policy http://127.0.0.1:{port}/v1/chat/completions: connection refused"
