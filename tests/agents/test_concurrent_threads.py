"""Turns on one thread from several processes at once (`stepvox ask --thread t`, real
subprocesses, remote policy on a real loopback HTTP server): they run one after another.

Every turn ends up in the checkpoint exactly once, user and assistant alternating, and the
conversation equals a serial run in the order the turns took: each turn's request carried
every earlier turn, whole. A turn that cannot get the thread within STEPVOX_TURN_WAIT_S is
refused with one line (exit 1) and leaves the conversation as it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.threads import ThreadStore
from tests.agents.conversation_checks import label, stored_messages, whole_turn_problems
from tests.agents.scripted_remote import ScriptedRemote, last_user_text

ROOT = Path(__file__).resolve().parents[2]


def start_ask(home: Path, url: str, question: str, thread: str, **env: str) -> subprocess.Popen:
    e = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
         "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env}
    out = home.parent / f"reply-{abs(hash(question))}.wav"
    return subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "ask", question, "-o", str(out), "--thread", thread,
         "--policy", "remote", "--remote-url", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT,
    )


@pytest.mark.parametrize("n", [2, 4])
def test_concurrent_asks_on_one_thread_all_land_in_serial_order(tmp_path, n):
    home = tmp_path / "home"
    server = ScriptedRemote("echo", delay_s=1.0)  # each turn takes a while: they overlap
    questions = [f"question number {i}" for i in range(n)]
    try:
        procs = [start_ask(home, server.url, q, "t") for q in questions]
        results = [p.communicate(timeout=240) for p in procs]
    finally:
        server.close()
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    msgs = stored_messages(home, "t")
    assert whole_turn_problems(msgs) == []
    asked = [label(m) for m in msgs if m.type == "human"]
    assert sorted(asked) == sorted(questions)  # every turn once: nothing lost
    assert len(msgs) == 2 * n  # a serial run's count
    for q, a in zip(msgs[::2], msgs[1::2], strict=True):
        assert label(a) == f"You said: {label(q)}."
    # serial: the k-th request carried the k earlier turns, exactly as stored
    reqs = [r for _, r in sorted(server.requests, key=lambda x: x[0])]
    assert len(reqs) == n
    for k, req in enumerate(reqs):
        history = [m for m in req["messages"] if m["role"] in ("human", "assistant")
                   and m.get("eot") is not False]
        assert len(history) == 2 * k + 1
        assert last_user_text(req["messages"]) == asked[k]


def test_a_turn_that_cannot_get_the_thread_in_time_is_refused_with_one_line(tmp_path):
    home = tmp_path / "home"
    server = ScriptedRemote("echo")
    store = ThreadStore(home)  # this process holds the conversation, as a running turn would
    try:
        with store.lock("t"):
            asker = start_ask(home, server.url, "a question", "t", STEPVOX_TURN_WAIT_S="1")
            _out, err = asker.communicate(timeout=240)
    finally:
        store.close()
        server.close()
    assert asker.returncode == 1
    lines = err.strip().splitlines()
    assert lines == ["error: thread 't' is busy: another turn on it did not finish within 1 s "
                     "(STEPVOX_TURN_WAIT_S); try again later"], err
    assert server.requests == []  # the refused turn never reached the policy
    assert stored_messages(home, "t") == []  # nor left anything behind
