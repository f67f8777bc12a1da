"""The CLI contract, run as a real subprocess: JSON document, threads, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
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


def _bad_inputs(tmp_path):
    cases = {}
    cases["not audio"] = tmp_path / "notes.wav"
    cases["not audio"].write_text("hello, this is text\n")
    cases["empty file"] = tmp_path / "empty.mp3"
    cases["empty file"].write_bytes(b"")
    cases["zero audio samples"] = tmp_path / "zero.wav"
    sf.write(cases["zero audio samples"], np.zeros(0, np.float32), 16000)
    good = tmp_path / "good.wav"
    sf.write(good, np.full(16000, 0.1, np.float32), 16000)
    cases["truncated"] = tmp_path / "trunc.wav"
    cases["truncated"].write_bytes(good.read_bytes()[:40])
    cases["too long"] = tmp_path / "long.flac"
    sf.write(cases["too long"], np.zeros(16000 * 5, np.float32), 16000)
    return cases


def test_bad_input_exits_2_with_one_line(home, tmp_path):
    for what, path in _bad_inputs(tmp_path).items():
        p = run(["respond", str(path), "-o", str(tmp_path / "o.wav")], home, STEPVOX_MAX_INPUT_SECONDS="2")
        assert p.returncode == 2, (what, p.stderr)
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        assert len(lines) == 1, (what, p.stderr)
        assert str(path) in lines[0] and "Traceback" not in p.stderr


def test_bad_usage_exits_2(home, tmp_path, speak):
    p = run(["respond", str(speak("hello")), "-o", str(tmp_path / "o.wav"), "--policy", "nonsense"], home)
    assert p.returncode == 2 and "nonsense" in p.stderr and "Traceback" not in p.stderr
    p = run(["respond", str(speak("hello")), "-o", str(tmp_path / "o.mp3")], home)
    assert p.returncode == 2 and "o.mp3" in p.stderr


def test_doctor_reports_policies(home):
    p = run(["doctor", "--json"], home)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["policies"]["embedded"].startswith("ready")
