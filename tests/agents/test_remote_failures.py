"""A remote policy whose server is down or failing: the turn fails with one line, never with
an empty reply, and the conversation stays exactly as it was (real HTTP servers on loopback,
a real closed port, the real graph and SQLite checkpointer)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from agents import Assistant
from assistant.live.session import LiveSession
from core.audio import resample
from model.events import Error
from model.policy import PolicyUnavailable
from model.remote import RemotePolicy
from tests.agents.conversation_checks import (
    label,
    rows_digest,
    seed,
    stored_messages,
    whole_turn_problems,
)
from tests.agents.scripted_remote import ScriptedRemote

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture(scope="module")
def seed_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("seed") / "home"
    seed(home, [("t", "what time is it")])
    return home


@pytest.fixture
def seeded(seed_home, tmp_path):
    """A home whose thread "t" holds one whole turn (with a tool call)."""
    home = tmp_path / "home"
    shutil.copytree(seed_home, home)
    return home


CASES = {
    "http 500": (dict(mode="status", status=500, body=b"model crashed\nTraceback ..."),
                 ": HTTP 500 Internal Server Error: model crashed Traceback ..."),
    "http 404": (dict(mode="status", status=404, body=b"not found"), ": HTTP 404 Not Found: not found"),
    "html instead of events": (dict(mode="garbage"),
                               ": malformed reply: no server-sent events (Content-Type text/html)"),
    "an event is not json": (dict(mode="bad-json"),
                             ": malformed reply: an event is not JSON ({this is not json)"),
    "fails after the tool ran": (dict(mode="tool", fail_from=1),
                                 ": HTTP 500 Internal Server Error: internal failure"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failing_server_fails_the_turn_and_leaves_the_conversation_as_it_was(seeded, case):
    opts, problem = CASES[case]
    before = rows_digest(seeded)
    server = ScriptedRemote(**opts)
    try:
        a = Assistant(RemotePolicy(base_url=server.url), seeded, tool_timeout_s=3.0)
        with pytest.raises(PolicyUnavailable) as e:
            a.respond(text="and now?", thread_id="t")
        a.close()
    finally:
        server.close()
    assert str(e.value) == f"remote policy {server.url}/chat/completions{problem}"
    assert "\n" not in str(e.value)
    assert rows_digest(seeded) == before  # not half a turn: nothing of it
    msgs = stored_messages(seeded, "t")
    assert whole_turn_problems(msgs) == [] and [m.type for m in msgs] == ["human", "ai", "tool", "ai"]


def test_the_turn_after_a_failure_sends_only_whole_turns(seeded):
    failing = ScriptedRemote("tool", fail_from=1)
    a = Assistant(RemotePolicy(base_url=failing.url), seeded, tool_timeout_s=3.0)
    with pytest.raises(PolicyUnavailable):
        a.respond(text="first try", thread_id="t")
    failing.close()
    good = ScriptedRemote("echo")
    a.policy.url = f"{good.url}/chat/completions"
    try:
        r = a.respond(text="second try", thread_id="t")
    finally:
        a.close()
        good.close()
    assert r.reply_text == "You said: second try."
    sent = [m for m in good.requests[0][1]["messages"] if m["role"] != "system"]
    assert [m["role"] for m in sent] == ["human", "assistant", "input", "assistant", "human", "assistant"]
    assert "first try" not in str(sent)
    assert [label(m) for m in stored_messages(seeded, "t") if m.type == "human"] == [
        "what time is it", "second try"]


def test_cli_with_the_server_down_exits_1_with_one_line(seeded, tmp_path):
    port = closed_port()
    before = rows_digest(seeded)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "STEPVOX_HOME": str(seeded), "HF_HUB_OFFLINE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", "are you there?", "-o", str(tmp_path / "r.wav"),
         "--thread", "t", "--policy", "remote", "--remote-url", f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=240,
    )
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        f"error: remote policy http://127.0.0.1:{port}/v1/chat/completions: connection refused"]
    assert p.stdout == "" and not (tmp_path / "r.wav").exists()
    assert rows_digest(seeded) == before


class _Sink:
    """Reply audio goes nowhere (the session's ReplySink protocol)."""

    active = False
    played_seconds = 0.0

    def begin(self):
        pass

    def write(self, samples, sample_rate):
        pass

    def end(self):
        pass

    def stop(self):
        pass


def test_a_live_session_turn_with_the_server_down_sends_an_error_event(seeded, speak):
    """The session behind the web page and `stepvox chat`: its `error` event carries the line."""
    port = closed_port()
    before = rows_digest(seeded)
    a = Assistant(RemotePolicy(base_url=f"http://127.0.0.1:{port}"), seeded, tool_timeout_s=3.0)
    events: list = []
    session = LiveSession(a, _Sink(), thread_id="t", push_to_talk=True, on_event=events.append)
    samples, rate = sf.read(speak("What time is it?"), dtype="float32")
    session.press()
    session.feed(resample(samples, rate, 16000))
    session.release()
    assert session.wait_turn(120)
    session.close()
    a.close()
    errors = [e for e in events if isinstance(e, Error)]
    assert len(errors) == 1
    assert errors[0].message.endswith(
        f"remote policy http://127.0.0.1:{port}/v1/chat/completions: connection refused")
    assert rows_digest(seeded) == before
