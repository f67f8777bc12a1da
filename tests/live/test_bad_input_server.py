"""Hostile and careless input to `stepvox serve`, over a real uvicorn server on loopback with
the real assistant: each case is refused with its status / close code / `error` event naming
the problem, and the stored corpus (documents and upload directory) is unchanged."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest

from assistant.live.endpointer import EndpointConfig
from assistant.server.app import create_app
from assistant.server.run import WS_MAX_SIZE, ServerThread, free_port
from core.settings import Settings
from tests.live.server_helpers import (
    multipart,
    one_line_exit,
    stepvox,
    store_digest,
    wait_closed,
    ws_session,
)

TOKEN = "lan-token-0123456789"
NOTE = ("note.txt", b"The museum opens at ten in the morning.")
START = {"type": "start", "sample_rate": 16000}


@pytest.fixture(scope="module")
def servers(real_assistant, tmp_path_factory):
    """A loopback server without a token (upload limit 1 MB, push-to-talk 2 s) and a LAN one
    (bound to 0.0.0.0) that requires a token."""
    home = tmp_path_factory.mktemp("bad-input-home")
    settings = Settings(home=home, max_upload_mb=1, max_input_seconds=2, max_sessions=8)
    local = create_app(real_assistant, settings=settings, upload_dir=home / "uploads",
                       endpoint=EndpointConfig(silence_ms=500))
    lan = create_app(real_assistant, settings=settings, upload_dir=home / "uploads",
                     token=TOKEN, bind_host="0.0.0.0")
    with ServerThread(local) as a, ServerThread(lan, host="0.0.0.0") as b:
        yield {"local": (a, a.port), "lan": (b, b.port), "home": home, "assistant": real_assistant}


def digest(servers) -> str:
    return store_digest(servers["assistant"], servers["home"] / "uploads")


def upload(*files, headers=None, **kw) -> dict:
    body, h = multipart(*files, **kw)
    return {"method": "POST", "path": "/api/corpus", "content": body, "headers": {**h, **(headers or {})}}


def chunked(n_bytes: int):
    body, h = multipart(("big.txt", b"a" * n_bytes))

    def gen():
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    return {"method": "POST", "path": "/api/corpus", "content": gen(), "headers": h}


def truncated() -> dict:
    r = upload(NOTE)
    r["content"] = r["content"][: len(r["content"]) // 2]
    return r


# name: (server, request(port) -> httpx kwargs, status, words the one-line error names)
HTTP = {
    "rebinding-host-page": ("local", lambda p: {"method": "GET", "path": "/", "headers": {"Host": f"evil.example:{p}"}}, 400, ["evil.example"]),
    "rebinding-host-upload": ("local", lambda p: upload(NOTE, headers={"Host": f"evil.example:{p}"}), 400, ["evil.example"]),
    "rebinding-host-voices": ("local", lambda p: {"method": "GET", "path": "/api/voices", "headers": {"Host": "attacker.test"}}, 400, ["attacker.test"]),
    "loopback-host-other-port": ("local", lambda p: {"method": "GET", "path": "/", "headers": {"Host": f"127.0.0.1:{p + 1}"}}, 400, ["127.0.0.1"]),
    "host-with-userinfo": ("local", lambda p: {"method": "GET", "path": "/", "headers": {"Host": f"evil@127.0.0.1:{p}"}}, 400, ["Host"]),
    "origin-other-site-upload": ("local", lambda p: upload(NOTE, headers={"Origin": "http://evil.example"}), 403, ["evil.example"]),
    "origin-other-port-upload": ("local", lambda p: upload(NOTE, headers={"Origin": f"http://127.0.0.1:{p + 1}"}), 403, ["Origin"]),
    "origin-null-upload": ("local", lambda p: upload(NOTE, headers={"Origin": "null"}), 403, ["null"]),
    "origin-other-site-voices": ("local", lambda p: {"method": "GET", "path": "/api/voices", "headers": {"Origin": "https://evil.example"}}, 403, ["evil.example"]),
    "sec-fetch-cross-site-upload": ("local", lambda p: upload(NOTE, headers={"Sec-Fetch-Site": "cross-site"}), 403, ["cross-site"]),
    "sec-fetch-same-site-upload": ("local", lambda p: upload(NOTE, headers={"Sec-Fetch-Site": "same-site"}), 403, ["same-site"]),
    "upload-over-limit-declared": ("local", lambda p: upload(("big.txt", b"a" * 1_200_000)), 413, ["1 MB", "STEPVOX_MAX_UPLOAD_MB"]),
    "upload-over-limit-streamed": ("local", lambda p: chunked(2_000_000), 413, ["1 MB"]),
    "upload-traversal": ("local", lambda p: upload(("../escape.txt", b"x")), 400, ["../escape.txt", "plain file name"]),
    "upload-traversal-backslash": ("local", lambda p: upload(("..\\\\escape.txt", b"x")), 400, ["plain file name"]),
    "upload-absolute-path": ("local", lambda p: upload(("/tmp/abs.txt", b"x")), 400, ["/tmp/abs.txt"]),
    "upload-hidden-name": ("local", lambda p: upload((".bashrc", b"x")), 400, [".bashrc"]),
    "upload-control-char-name": ("local", lambda p: upload(("a\x01b.txt", b"x")), 400, ["control"]),
    "upload-no-files": ("local", lambda p: upload(), 400, ["no files"]),
    "upload-empty-file": ("local", lambda p: upload(("empty.txt", b"")), 400, ["empty.txt", "empty"]),
    "upload-wrong-field": ("local", lambda p: upload(NOTE, field="document"), 400, ["document", "files"]),
    "upload-same-name-twice": ("local", lambda p: upload(NOTE, NOTE), 400, ["note.txt", "twice"]),
    "upload-truncated-body": ("local", lambda p: truncated(), 400, ["multipart"]),
    "upload-json-content-type": ("local", lambda p: {"method": "POST", "path": "/api/corpus", "json": {"files": ["a"]}}, 415, ["multipart/form-data"]),
    "upload-no-boundary": ("local", lambda p: {**upload(NOTE), "headers": {"Content-Type": "multipart/form-data"}}, 400, ["boundary"]),
    "lan-upload-without-token": ("lan", lambda p: upload(NOTE), 401, ["token"]),
    "lan-upload-wrong-token": ("lan", lambda p: upload(NOTE, headers={"Authorization": "Bearer wrong-token-42"}), 401, ["token"]),
    "lan-page-wrong-token": ("lan", lambda p: {"method": "GET", "path": "/?token=wrong-token-42"}, 401, ["token"]),
}


@pytest.mark.parametrize("case", list(HTTP), ids=list(HTTP))
def test_bad_http_request_is_refused_and_nothing_is_stored(servers, case):
    which, make, status, words = HTTP[case]
    srv, port = servers[which]
    req = make(port)
    before = digest(servers)
    r = httpx.request(req.pop("method"), f"http://127.0.0.1:{port}{req.pop('path')}", timeout=60, **req)
    assert r.status_code == status, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail, detail
    for w in words:
        assert w in detail, detail
    assert digest(servers) == before


# -- WebSocket -------------------------------------------------------------------------


def ws_url(servers, which="local", query="") -> str:
    return f"ws://127.0.0.1:{servers[which][1]}/ws{query}"


WS_REFUSED = {
    "rebinding-host": ("local", "", lambda p: {"additional_headers": {"Host": f"evil.example:{p}"}}),
    "origin-other-site": ("local", "", lambda p: {"origin": "http://evil.example"}),
    "origin-other-port": ("local", "", lambda p: {"origin": f"http://127.0.0.1:{p + 1}"}),
    "origin-null": ("local", "", lambda p: {"origin": "null"}),
    "cross-site-without-origin": ("local", "", lambda p: {"additional_headers": {"Sec-Fetch-Site": "cross-site"}}),
    "lan-without-token": ("lan", "", lambda p: {}),
    "lan-wrong-token": ("lan", "?token=wrong-token-42", lambda p: {}),
}


@pytest.mark.parametrize("case", list(WS_REFUSED), ids=list(WS_REFUSED))
def test_websocket_handshake_refused(servers, case):
    which, query, make = WS_REFUSED[case]
    before = digest(servers)
    res = asyncio.run(ws_session(ws_url(servers, which, query), [START], **make(servers[which][1])))
    assert res == {"refused": 403}, res
    assert digest(servers) == before


WS_FIRST = {
    "binary-before-start": (bytes(640), ["first message must be a text frame"]),
    "not-json": ("{type: start", ["not JSON"]),
    "json-list": ("[1, 2]", ["expected a JSON object"]),
    "unknown-type": ({"type": "dance"}, ["'dance'"]),
    "ping-before-start": ({"type": "ping"}, ["first message must be", "'ping'"]),
    "start-bad-sample-rate": ({"type": "start", "sample_rate": 5}, ["sample_rate"]),
    "start-empty-thread": ({"type": "start", "thread_id": ""}, ["thread_id"]),
    "start-control-char-thread": ({"type": "start", "thread_id": "a\x00b"}, ["thread_id"]),
    "start-unknown-voice": ({"type": "start", "voice_id": "no-such-voice"}, ["no-such-voice", "no such voice"]),
    "start-extra-field": ({"type": "start", "sample_rate": 16000, "admin": True}, ["admin"]),
}


@pytest.mark.parametrize("case", list(WS_FIRST), ids=list(WS_FIRST))
def test_bad_first_frame_gets_one_error_and_a_clean_close(servers, case):
    first, words = WS_FIRST[case]
    before = digest(servers)
    frame = json.dumps(first) if isinstance(first, dict) else first
    res = asyncio.run(ws_session(ws_url(servers), [frame]))
    errors = [m for m in res["messages"] if m["type"] == "error"]
    assert len(errors) == 1, res
    for w in words:
        assert w in errors[0]["message"], errors
    assert res["close"] is not None and res["close"][0] == 1008, res
    assert digest(servers) == before


WS_LATER = {
    "unknown-type": ({"type": "dance"}, ["'dance'"]),
    "unknown-voice": ({"type": "voice", "voice_id": "no-such-voice"}, ["no-such-voice", "no such voice"]),
    "empty-voice-id": ({"type": "voice", "voice_id": ""}, ["voice_id"]),
    "odd-length-audio": (bytes(641), ["641 bytes", "int16"]),
    "audio-frame-over-a-second": (bytes(2 * 16000 * 2), ["more than 1 s"]),
    "text-frame-too-long": (json.dumps({"type": "ping", "pad": "x" * 70_000}), ["at most"]),
    "second-start": ({"type": "start"}, ["already started"]),
}


@pytest.mark.parametrize("case", list(WS_LATER), ids=list(WS_LATER))
def test_bad_frame_in_a_session_gets_an_error_and_the_session_goes_on(servers, case):
    frame, words = WS_LATER[case]
    before = digest(servers)
    res = asyncio.run(ws_session(ws_url(servers), [START, frame, {"type": "ping"}], expect=2))
    kinds = [m["type"] for m in res["messages"]]
    assert kinds == ["status", "ready", "error", "pong"], res
    for w in words:
        assert w in res["messages"][2]["message"], res
    assert digest(servers) == before


def test_frame_over_the_websocket_size_limit_closes_with_1009(servers):
    before = digest(servers)
    res = asyncio.run(ws_session(ws_url(servers), [START, bytes(WS_MAX_SIZE + 2)]))
    assert res["close"] is not None and res["close"][0] == 1009, res
    assert digest(servers) == before


def test_push_to_talk_longer_than_the_limit_is_refused_with_an_error(servers):
    """max_input_seconds = 2: 3 s held down gives an error event, and the release no turn."""
    before = digest(servers)
    block = (np.sin(np.arange(512) / 5) * 8000).astype("<i2").tobytes()
    frames = [dict(START, mode="ptt"), {"type": "ptt", "pressed": True}]
    frames += [block] * int(3 * 16000 / 512)
    frames += [{"type": "ptt", "pressed": False}, {"type": "ping"}]
    res = asyncio.run(ws_session(ws_url(servers), frames, expect=5))
    kinds = [m["type"] for m in res["messages"]]
    assert kinds == ["status", "ready", "ptt", "error", "ptt", "speech_abort", "pong"], kinds
    err = res["messages"][3]["message"]
    assert "longer than 2 s" in err and "STEPVOX_MAX_INPUT_SECONDS" in err, err
    assert "longer than 2 s" in res["messages"][5]["reason"]
    assert digest(servers) == before


def test_sessions_beyond_the_limit_are_refused_with_a_reason(real_assistant, tmp_path):
    app = create_app(real_assistant, settings=Settings(home=tmp_path, max_sessions=2))

    async def scenario(url):
        import websockets

        held = [await websockets.connect(url) for _ in range(2)]
        for ws in held:
            await ws.send(json.dumps(START))
            while json.loads(await ws.recv())["type"] != "ready":
                pass
        third = await ws_session(url, [START])
        for ws in held:
            await ws.close()
        await asyncio.to_thread(wait_closed, app)
        fourth = await ws_session(url, [START, {"type": "ping"}], expect=1)
        return third, fourth

    before = store_digest(real_assistant)
    with ServerThread(app) as srv:
        third, fourth = asyncio.run(scenario(srv.url.replace("http", "ws") + "/ws"))
        assert wait_closed(app)
    assert third["close"][0] == 1013 and "server busy" in third["close"][1], third
    assert third["messages"][0]["type"] == "error" and "STEPVOX_MAX_SESSIONS" in third["messages"][0]["message"]
    assert [m["type"] for m in fourth["messages"]] == ["status", "ready", "pong"], fourth
    assert store_digest(real_assistant) == before


# -- command line ------------------------------------------------------------------

Q, OUT = "/tmp/stepvox-q-missing.wav", "/tmp/stepvox-o.wav"


@pytest.mark.parametrize(
    "args, words",
    [
        (["serve", "--policy", "step-audio-2", "--model", "/no/such/checkpoint"], ["/no/such/checkpoint", "not found"]),
        (["serve", "--policy", "no-such-policy"], ["--policy", "no-such-policy", "unknown policy"]),
        (["serve", "--policy", "remote"], ["--remote-url"]),
        (["serve", "--token", "short"], ["--token", "8 characters"]),
        (["serve", "--token", "long-enough-token", "--token-file", "/etc/hostname"], ["--token-file"]),
        (["serve", "--token-file", "/no/such/token"], ["/no/such/token", "not found"]),
        (["chat", "--input-file", Q, "--output-file", OUT, "--policy", "step-audio-2", "--model", "/no/such/ckpt"],
         ["/no/such/ckpt", "not found"]),
        (["chat", "--input-file", Q, "--output-file", OUT, "--policy", "remote"], ["--remote-url"]),
    ],
    ids=["serve-missing-model-dir", "serve-unknown-policy", "serve-remote-without-url", "serve-short-token",
         "serve-two-tokens", "serve-missing-token-file", "chat-missing-model-dir", "chat-remote-without-url"],
)
def test_bad_command_line_is_one_line_exit_2_before_anything_runs(tmp_path, args, words):
    home = tmp_path / "home"
    if args[0] == "serve":
        args = [*args, "--port", str(free_port())]
    one_line_exit(stepvox(*args, home=home), 2, *words, timeout=60)
    assert sorted(home.rglob("*")) == []  # nothing written: no corpus, no conversations
