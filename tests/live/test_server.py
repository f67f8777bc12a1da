"""The FastAPI app: token auth, the WebSocket voice protocol with real speech frames, uploads."""

import asyncio
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from assistant.live.endpointer import EndpointConfig
from assistant.server.app import create_app
from assistant.server.auth import is_loopback, resolve_token
from assistant.server.run import ServerThread
from model.events import Error, Pong, Ready, Status, VoiceSelected, parse_event
from tests.live.audio_helpers import SpeakingAssistant, silence, speech

LOCAL = "http://127.0.0.1"  # TestClient's default Host, "testserver", is not a loopback name
LOCAL_WS = "ws://127.0.0.1/ws"


def test_loopback_needs_no_token_other_hosts_get_one():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert resolve_token("127.0.0.1", None) == (None, False)
    tok, generated = resolve_token("0.0.0.0", None)
    assert generated and len(tok) >= 16
    assert resolve_token("0.0.0.0", "abc") == ("abc", False)


def test_page_and_api_check_the_token(tmp_path):
    app = create_app(SpeakingAssistant(), token="s3cret", upload_dir=tmp_path)
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/").status_code == 401
        assert c.get("/api/voices").status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        r = c.get("/?token=s3cret")
        assert (
            r.status_code == 200
            and "stepvox" in r.text
            and "stepvox_token" in r.headers.get("set-cookie", "")
        )
        c.cookies.clear()
        r = c.get("/api/voices", headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()[0]["voice_id"] == "default"
        assert c.get("/static/mic-worklet.js").status_code == 200
        with pytest.raises(WebSocketDisconnect) as exc:
            with c.websocket_connect(LOCAL_WS) as ws:
                ws.receive_text()
        assert exc.value.code == 4401
        r = c.post(
            "/api/corpus",
            files=[("files", ("notes.txt", b"The office opens at nine.", "text/plain"))],
            headers={"Authorization": "Bearer s3cret"},
        )
        assert r.status_code == 200 and r.json()["added"][0].endswith("notes.txt")


def collect_turn(ws, max_msgs=5000):
    msgs, audio = [], []
    for _ in range(max_msgs):
        m = ws.receive()
        if m.get("bytes") is not None:
            audio.append(np.frombuffer(m["bytes"], "<i2"))
            continue
        d = json.loads(m["text"])
        msgs.append(d)
        if d["type"] == "turn_done":
            break
    return msgs, np.concatenate(audio) if audio else np.zeros(0, np.int16)


def test_websocket_turn_with_real_speech():
    bot = SpeakingAssistant(reply="It is ten in the evening in Tokyo.", pace=0.0)
    app = create_app(bot, endpoint=EndpointConfig(silence_ms=500))
    pcm = np.concatenate([silence(0.3), speech("What time is it in Tokyo?"), silence(1.2)])
    pcm16 = (pcm * 32767).astype("<i2")
    with TestClient(app, base_url=LOCAL) as c, c.websocket_connect(LOCAL_WS) as ws:
        ws.send_text(
            json.dumps(
                {
                    "type": "start",
                    "sample_rate": 16000,
                    "output_sample_rate": 24000,
                    "voice_id": "v2",
                }
            )
        )
        first = [parse_event(ws.receive_text()) for _ in range(2)]
        assert first[0] == Status(state="loading")
        assert isinstance(first[1], Ready) and first[1].output_sample_rate == 24000
        assert first[1].mode == "vad" and first[1].barge_in is True
        for i in range(0, pcm16.size, 512):
            ws.send_bytes(pcm16[i : i + 512].tobytes())
        msgs, audio = collect_turn(ws)
    kinds = [m["type"] for m in msgs]
    for k in (
        "speech_start",
        "speech_end",
        "turn_start",
        "transcript",
        "tool_call",
        "tool_result",
        "text_delta",
        "timing",
        "turn_done",
    ):
        assert k in kinds, kinds
    assert "session" not in kinds and "audio_chunk" not in kinds
    events = [parse_event(m) for m in msgs]  # every JSON message is a model.events event
    start = next(e for e in events if e.type == "speech_start")
    end = next(e for e in events if e.type == "speech_end")
    assert 0 < start.sample < end.sample and 1.5 < end.seconds < 3.0
    assert kinds.index("speech_end") < kinds.index("transcript")
    tool = next(m for m in msgs if m["type"] == "tool_call")
    assert tool["name"] == "get_time" and tool["arguments"] == {"city": "Tokyo"}
    assert (
        audio.size / 24000 > 1.0 and np.abs(audio).max() > 1000
    )  # the spoken reply, at the page's rate
    assert bot.calls[0]["voice_id"] == "v2" and 1.5 < bot.calls[0]["seconds"] < 3.0


def test_websocket_rejects_a_bad_start():
    app = create_app(SpeakingAssistant())
    with TestClient(app, base_url=LOCAL) as c, c.websocket_connect(LOCAL_WS) as ws:
        ws.send_text(json.dumps({"type": "start", "sample_rate": 5}))
        d = json.loads(ws.receive_text())
        assert d["type"] == "error" and "sample_rate" in d["message"]


def test_websocket_barge_in_stops_the_page_player_and_cancels():
    bot = SpeakingAssistant(pace=0.5)
    app = create_app(bot, endpoint=EndpointConfig(silence_ms=500))
    q = (
        np.concatenate([silence(0.3), speech("What time is it in Tokyo?"), silence(1.0)]) * 32767
    ).astype("<i2")
    stop = (np.concatenate([speech("Stop, please stop."), silence(0.3)]) * 32767).astype("<i2")
    with TestClient(app, base_url=LOCAL) as c, c.websocket_connect(LOCAL_WS) as ws:
        ws.send_text(json.dumps({"type": "start", "sample_rate": 16000}))
        while json.loads(ws.receive_text())["type"] != "ready":
            pass
        session = app.state.sessions[-1]  # listed while its socket is open
        for i in range(0, q.size, 512):
            ws.send_bytes(q[i : i + 512].tobytes())
        while ws.receive().get("bytes") is None:  # until the reply's first audio frame
            pass
        for i in range(
            0, stop.size, 512
        ):  # the page's mic keeps streaming: the user talks over the reply
            ws.send_bytes(stop[i : i + 512].tobytes())
        msgs = []
        for _ in range(5000):
            m = ws.receive()
            if m.get("text"):
                msgs.append(json.loads(m["text"]))
                if msgs[-1]["type"] == "turn_done":
                    break
    kinds = [m["type"] for m in msgs]
    assert "barge_in" in kinds and "stop_playback" in kinds, kinds
    assert kinds.index("barge_in") < kinds.index("turn_done")
    barge = parse_event(next(m for m in msgs if m["type"] == "barge_in"))
    assert barge.turn_running and barge.detect_ms is not None and barge.detect_ms < 300
    done = next(m for m in msgs if m["type"] == "turn_done")
    assert done["result"]["info"]["cancelled"] is True
    assert session.turns[0].cancelled and session.barge_ins[0]["turn_running"]


async def _talk(url: str, frames: list) -> list:
    """Send each frame (a dict as JSON, str or bytes as is), collect the JSON replies."""
    import websockets

    out = []
    async with websockets.connect(url) as ws:
        for f in frames:
            await ws.send(json.dumps(f) if isinstance(f, dict) else f)
            if isinstance(f, dict) and f.get("type") == "start":
                while True:  # status, then ready
                    out.append(json.loads(await ws.recv()))
                    if out[-1]["type"] in ("ready", "error"):
                        break
            elif not isinstance(f, bytes):
                out.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=10)))
    return out


def test_the_server_rejects_malformed_client_messages_with_error_events():
    """A real uvicorn server and a websockets client: each bad message is answered with an
    Error event naming the problem, and the connection keeps working."""
    app = create_app(SpeakingAssistant())
    with ServerThread(app) as srv:
        url = srv.url.replace("http", "ws") + "/ws"
        replies = asyncio.run(
            _talk(
                url,
                [
                    {"type": "start", "sample_rate": 16000},
                    {"type": "ptt"},  # pressed missing
                    {"type": "mode", "mode": "loud"},
                    {"type": "dance"},
                    "this is not json",
                    {"type": "start"},  # twice
                    bytes(1024),  # microphone silence is fine
                    {"type": "voice", "voice_id": "v2"},
                    {"type": "ping"},
                ],
            )
        )
        events = [parse_event(m) for m in replies]
        assert [type(e) for e in events] == [
            Status,
            Ready,
            Error,
            Error,
            Error,
            Error,
            Error,
            VoiceSelected,
            Pong,
        ], replies
        msgs = [e.message for e in events if isinstance(e, Error)]
        assert "'ptt'" in msgs[0] and "pressed" in msgs[0] and "required" in msgs[0], msgs[0]
        assert "mode" in msgs[1] and "'vad'" in msgs[1], msgs[1]
        assert "dance" in msgs[2] and "ping" in msgs[2], msgs[2]
        assert "not JSON" in msgs[3], msgs[3]
        assert "already started" in msgs[4], msgs[4]
        assert events[-2] == VoiceSelected(voice_id="v2")

        # a bad first message: an Error event naming it, then the server closes the socket
        async def bad_first(first) -> Error:
            import websockets

            async with websockets.connect(url) as ws:
                await ws.send(first if isinstance(first, bytes) else json.dumps(first))
                err = parse_event(await asyncio.wait_for(ws.recv(), timeout=10))
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), timeout=10)
                return err

        for first, names in (
            ({"type": "ping"}, ["first message must be", "'ping'"]),
            ({"type": "start", "sample_rate": "fast"}, ["'start'", "sample_rate"]),
            (bytes(64), ["first message must be a text frame"]),
        ):
            err = asyncio.run(bad_first(first))
            assert isinstance(err, Error), err
            for n in names:
                assert n in err.message, err.message


def test_corpus_upload_and_voices_on_the_real_assistant(real_assistant, tmp_path):
    app = create_app(real_assistant, upload_dir=tmp_path)
    with TestClient(app, base_url=LOCAL) as c:
        assert isinstance(c.get("/api/voices").json(), list)
        text = b"The community garden opens at seven in the morning and closes at dusk."
        r = c.post("/api/corpus", files=[("files", ("garden.txt", text, "text/plain"))])
        assert r.status_code == 200, r.text
        assert "garden" in r.text
        r = c.post(
            "/api/corpus",
            files=[("files", ("blob.bin", b"\x00\x01\x02", "application/octet-stream"))],
        )
        assert r.status_code == 200 and r.json()["skipped"][0][0].endswith(
            "blob.bin"
        )  # named, with why
