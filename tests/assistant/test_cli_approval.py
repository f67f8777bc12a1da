"""A person in the loop from the command line, as real `stepvox` subprocesses: a gated tool
pauses `ask`, `threads list|show` tell what waits, `threads approve` runs it in another
process; a handoff is answered with `threads reply`, spoken into the reply WAV."""

from __future__ import annotations

import json

import soundfile as sf

from tests.assistant.test_cli import run


def test_approve_from_another_process(tmp_path):
    env = {"STEPVOX_APPROVE_TOOLS": "calculator"}
    p = run(["ask", "what is 6 times 7", "-o", str(tmp_path / "a.wav"), "--thread", "t1", "--json"],
            tmp_path, **env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["waiting"]["kind"] == "approval" and doc["tool_calls"] == []
    assert doc["waiting"]["calls"][0]["name"] == "calculator"
    listed = json.loads(run(["threads", "list", "--json"], tmp_path, **env).stdout)
    assert listed[0]["id"] == "t1" and listed[0]["waiting"]["kind"] == "approval"
    shown = run(["threads", "show", "t1"], tmp_path, **env)
    assert "waiting: for approval of calculator" in shown.stdout
    wrong = run(["threads", "reply", "t1", "hello"], tmp_path, **env)
    assert wrong.returncode == 2 and "waits for approval, not handoff" in wrong.stderr
    p = run(["threads", "approve", "t1", "-o", str(tmp_path / "b.wav"), "--json"], tmp_path, **env)
    assert p.returncode == 0, p.stderr
    done = json.loads(p.stdout)
    assert done["waiting"] is None and "42" in done["reply_text"]
    assert done["tool_calls"][0]["name"] == "calculator" and not done["tool_calls"][0]["is_error"]
    assert sf.info(str(tmp_path / "b.wav")).duration > 0.5
    again = run(["threads", "deny", "t1"], tmp_path, **env)
    assert again.returncode == 2 and again.stderr.strip() == "error: thread t1: not waiting for anyone"


def test_handoff_answered_with_threads_reply(tmp_path):
    p = run(["ask", "can I talk to a real person", "-o", str(tmp_path / "a.wav"), "--thread", "h"],
            tmp_path)
    assert p.returncode == 0, p.stderr
    assert "waiting:   for a person's answer" in p.stdout and "threads reply h" in p.stdout
    out = tmp_path / "op.wav"
    p = run(["threads", "reply", "h", "This is Sam. Your parcel left today.", "-o", str(out), "--json"],
            tmp_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert "Your parcel left today." in doc["reply_text"] and doc["waiting"] is None
    assert sf.info(str(out)).duration > 1.0
    msgs = json.loads(run(["threads", "show", "h", "--json"], tmp_path).stdout)["messages"]
    assert msgs[-1]["role"] == "assistant" and "Your parcel left today." in msgs[-1]["text"]
