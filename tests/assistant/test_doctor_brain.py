"""`stepvox doctor` names the active brain and asks its server, briefly, whether it answers
(a real scripted OpenAI-compatible server on loopback, and a closed port)."""

from __future__ import annotations

import json
import time

from tests.agents.scripted_chat import ScriptedChat
from tests.assistant.test_bad_input_brain import closed_port
from tests.assistant.test_bad_input_cli import run


def test_doctor_says_which_brain_is_active_and_whether_it_answers(tmp_path):
    with ScriptedChat("echo", models=("qwen3:4b", "llama3.2")) as server:
        t0 = time.perf_counter()
        up = run(["doctor", "--json"], tmp_path / "home", {"STEPVOX_BRAIN_URL": server.url,
                                                          "STEPVOX_BRAIN_MODEL": "llama3.2"})
        up_s = time.perf_counter() - t0
        assert server.requests == []  # a model list, not a generation
    port = closed_port()
    down = run(["doctor", "--json", "--brain-url", f"http://127.0.0.1:{port}"], tmp_path / "home")
    assert up.returncode == 0 and down.returncode == 0, (up.stderr, down.stderr)
    brain = json.loads(up.stdout)["brain"]
    assert brain["policy"] == "chat" and brain["endpoint"] == server.url and brain["model"] == "llama3.2"
    assert brain["answers"].startswith("answers (") and brain["answers"].endswith("model 'llama3.2'")
    assert up_s < 30  # seconds of imports on a busy machine; the request itself is capped at 3 s
    brain = json.loads(down.stdout)["brain"]
    assert brain == {"policy": "chat", "endpoint": f"http://127.0.0.1:{port}/v1",
                     "model": "(the first the server lists)", "answers": "NOT ANSWERING: connection refused"}
    assert not (tmp_path / "home").exists()  # doctor creates nothing
