"""The CLI contract, run as a real subprocess: JSON document, threads, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import soundfile as sf


def run(args, home, **env):
    e = {**os.environ, "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, env=e, timeout=300
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("clihome")


def test_respond_json_and_thread_continuity(home, speak, tmp_path):
    q1 = speak("What time is it in Tokyo?")
    out = tmp_path / "reply.wav"
    p = run(["respond", str(q1), "-o", str(out), "--thread", "t1", "--json"], home)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert {"transcript", "reply_text", "tool_calls", "voice", "reply_audio", "timings_ms", "policy"} <= set(doc)
    assert doc["policy"] == "embedded"
    assert doc["tool_calls"][0]["name"] == "get_current_time"
    assert doc["tool_calls"][0]["arguments"]["timezone"] == "Asia/Tokyo"
    assert {"name", "arguments", "result"} <= set(doc["tool_calls"][0])
    assert sf.info(str(out)).duration > 1.0
    # a second respond in the same thread sees the first turn
    q2 = speak("And what about London?")
    p = run(["respond", str(q2), "-o", str(tmp_path / "r2.wav"), "--thread", "t1", "--json"], home)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["tool_calls"][0]["arguments"]["timezone"] == "Europe/London"


def test_ask_text_in_spoken_answer_out(home, tmp_path):
    out = tmp_path / "a.wav"
    p = run(["ask", "what is 17 times 23", "-o", str(out), "--json"], home)
    assert p.returncode == 0, p.stderr
    assert "391" in json.loads(p.stdout)["reply_text"] and out.exists()


# bad input and usage: tests/assistant/test_bad_input_cli.py


def test_doctor_is_fast_and_loads_no_model(home):
    t0 = time.perf_counter()
    p = run(["doctor", "--json"], home)
    wall = time.perf_counter() - t0
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["policies"]["embedded"].startswith("ready")
    assert doc["packages"]["torch"][0].isdigit() and "gpu" in doc["policies"]
    assert wall < 6.0, wall  # it took 9-11 s importing torch and the models' stacks
    heavy = ("torch", "transformers", "sentence_transformers", "faster_whisper", "onnxruntime", "piper")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from assistant.cli_turns import diagnose; diagnose(); "
         f"print(','.join(m for m in {heavy!r} if m in sys.modules))"],
        capture_output=True, text=True, timeout=120,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "", probe.stdout + probe.stderr
