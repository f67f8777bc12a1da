"""The chat brain against stepvox's own OpenAI-compatible server (`stepvox serve-model`'s app,
uvicorn on loopback) on the tiny random-weight checkpoint: the settings' brain URL makes the
`chat` policy, which takes the model name the server lists, and the text it streams is spoken."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from agents import Assistant
from core.settings import load_settings
from model.events import AudioChunk, Done, TextDelta, TurnDone
from model.stepaudio2.policy import StepAudio2Policy
from model.stepaudio2.server import create_app
from model.stepaudio2.tiny import shared_tiny_checkpoint


@pytest.fixture(scope="module")
def serve_model():
    import uvicorn

    policy = StepAudio2Policy(shared_tiny_checkpoint(), device="cpu", max_new_tokens=12, seed=0)
    policy.load()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(policy, "tiny"), host="127.0.0.1", port=port,
                                        log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(400):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(timeout=10)


def test_a_turn_through_the_chat_brain_reaches_serve_model_and_is_spoken(serve_model, tmp_path):
    settings = load_settings(home=tmp_path / "home", brain_url=serve_model)  # no policy named
    assert settings.policy == "chat"
    a = Assistant.from_settings(settings)
    try:
        events = list(a.stream_turn(text="hello there", thread_id="sm"))
    finally:
        a.close()
    deltas = [e for e in events if isinstance(e, TextDelta)]
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    assert len(deltas) > 1 and "".join(d.text for d in deltas).strip()  # streamed, token by token
    assert chunks and sum(len(c.samples) for c in chunks) > 0.2 * chunks[0].sample_rate
    done = next(e for e in events if isinstance(e, Done))
    assert events.index(chunks[0]) < events.index(done)
    result = events[-1].result
    assert isinstance(events[-1], TurnDone) and result.policy == "chat"
    assert result.info["brain"] == f"{serve_model}/v1" and result.info["model"] == "tiny"
    assert result.info["usage"]["output_tokens"] == 12  # the checkpoint generated the reply
    assert result.info["speech"] == "piper"
