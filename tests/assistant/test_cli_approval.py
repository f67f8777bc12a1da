"""A person in the loop from the command line, as real `stepvox` subprocesses: a gated tool
pauses `ask`, `threads list|show` tell what waits, `threads approve` runs it in another
process; a handoff is answered with `threads reply`, spoken into the reply WAV."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf

from tests.assistant.test_cli import run

ROOT = Path(__file__).resolve().parents[2]


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


TOOL_MODULE = '''
from pathlib import Path
from agents.tools.base import standard_tool

def send_note(to: str) -> str:
    """Send a note to a contact."""
    Path(__file__).with_name("sent.txt").write_text(to)
    return '{"sent_to": "%s"}' % to

send_note_tool = standard_tool(
    send_note, "send_note", "Send a note to a contact.",
    examples=["send a note to Ada", "leave a note for Bob"], cues=["note"],
    parse=lambda text, prev: {"to": text.split()[-1].strip(".?!")},
    say=lambda result, args: "I sent the note to " + result["sent_to"] + ".",
)
'''


def test_a_developers_tool_from_the_settings_is_approved_from_the_cli(tmp_path):
    (tmp_path / "mytools.py").write_text(TOOL_MODULE)
    env = {"STEPVOX_TOOLS": "mytools:send_note_tool", "STEPVOX_APPROVE_TOOLS": "send_note",
           "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    p = run(["ask", "send a note to Ada", "-o", str(tmp_path / "a.wav"), "--thread", "n", "--json"],
            tmp_path / "home", **env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["waiting"]["calls"][0]["name"] == "send_note"
    assert not (tmp_path / "sent.txt").exists()
    # a shell without the tool's settings: refused, and the conversation keeps waiting
    p = run(["threads", "approve", "n"], tmp_path / "home", PYTHONPATH=str(ROOT))
    assert p.returncode == 2 and "waits on send_note, which is not loaded here" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = run(["threads", "approve", "n"], tmp_path / "home", **env)
    assert p.returncode == 0, p.stderr
    assert "I sent the note to Ada." in p.stdout and (tmp_path / "sent.txt").read_text() == "Ada"
