"""kill -9 at random points of turns (`respond` with speech, `ask` with text) on one thread.

A real child process (forked from a runner that has imported the stack once, so restarts are
cheap) runs turns in a loop against the remote policy — a real HTTP server on loopback that
answers each question with a tool call, then with an answer — and prints an ack after each
completed turn. It is killed with SIGKILL at random times and restarted, 20 times at least.
After each kill the conversation in SQLite holds only whole turns (every tool call has its
result, no empty user message, every turn ends with a reply), every acknowledged turn is
there in order, and the restarted child's next turn completes."""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agents import Assistant
from agents.graph import build_graph
from agents.repair import INTERRUPTED_RESULT
from agents.threads import ThreadStore
from model.remote import RemotePolicy
from tests.agents.conversation_checks import label, stored_messages, whole_turn_problems
from tests.agents.scripted_remote import ScriptedRemote

KILLS = 20
CHILD = Path(__file__).with_name("turn_child.py")
ROOT = Path(__file__).resolve().parents[2]


class Runner:
    def __init__(self, home: Path, url: str, thread: str, wav: Path) -> None:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "STEPVOX_HOME": str(home)}
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(home), url, thread, str(wav)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.ack_times: list[float] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready", 120)

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.startswith("ack "):
                self.ack_times.append(time.monotonic())
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout: float, acks: list[int] | None = None) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {prefix!r} from the turn runner within {timeout} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith("ack ") and acks is not None:
                acks.append(int(line.split()[1]))
            if line.startswith(prefix):
                return line

    def drain(self, acks: list[int]) -> None:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line.startswith("ack "):
                acks.append(int(line.split()[1]))

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def test_kill_9_during_turns_leaves_only_whole_turns_and_loses_no_acknowledged_turn(tmp_path, speak):
    home = tmp_path / "home"
    server = ScriptedRemote("tool", chunk_delay_s=0.03)
    runner = Runner(home, server.url, "k", speak("What time is it?"))
    rng = random.Random(int(os.environ.get("KILL_SEED", "17")))
    acks: list[int] = []
    k, kills, turns = 0, 0, [2.0]  # seconds between acks: how long a turn takes
    try:
        while kills < KILLS:
            runner.proc.stdin.write(f"go {k}\n")  # type: ignore[union-attr]
            runner.proc.stdin.flush()  # type: ignore[union-attr]
            pid = int(runner.expect("pid ", 60).split()[1])
            before = len(acks)
            runner.expect("ack ", 60, acks)  # the first turn after a kill works
            first = len(runner.ack_times)
            time.sleep(rng.uniform(0.0, 1.2 * sorted(turns)[len(turns) // 2]))  # in a later turn
            os.kill(pid, signal.SIGKILL)
            times = runner.ack_times[first - 1:]
            turns += [b - a for a, b in zip(times, times[1:], strict=False)]
            runner.expect(f"exit {pid}", 30, acks)
            runner.drain(acks)
            kills += 1
            assert len(acks) > before
            msgs = stored_messages(home, "k")
            assert whole_turn_problems(msgs) == [], f"after kill {kills}"
            labels = [int(m) for m in re.findall(r"turn (\d+)", " ".join(label(x) for x in msgs
                                                                          if x.type == "human"))]
            assert labels == sorted(set(labels)), "turns out of order or twice"
            assert set(acks) <= set(labels), f"acknowledged turns lost: {sorted(set(acks) - set(labels))}"
            k = max(acks) + 2  # the turn after the one in flight when killed
    finally:
        runner.close()
        server.close()
    assert kills >= KILLS



def test_half_turns_left_by_earlier_versions_are_healed_when_the_thread_is_loaded(tmp_path):
    """Before one checkpoint per turn, a kill left an unanswered tool call, an empty user
    message, or a user message without a reply in the checkpoint; the next turn sent them on."""
    home = tmp_path / "home"

    def call(i):
        return {"name": "get_current_time", "args": {}, "id": f"c{i}"}

    old = [
        HumanMessage(content="q1", id="h1"),
        AIMessage(content="", tool_calls=[call(1), call(2)], id="a1"),
        ToolMessage(content="10:00", tool_call_id="c1", name="get_current_time", id="t1"),
        AIMessage(content="It is ten.", id="a2"),  # replied, but c2's result was lost
        HumanMessage(content="", id="h2"),  # an empty user message (and a reply to it)
        AIMessage(content="Sorry?", id="a3"),
        HumanMessage(content="q2", id="h3"),  # killed while its tool ran
        AIMessage(content="", tool_calls=[call(3)], id="a4"),
    ]
    store = ThreadStore(home)
    graph = build_graph(None, [], store.saver)  # type: ignore[arg-type]  # stored, not run
    graph.update_state({"configurable": {"thread_id": "old"}}, {"messages": old}, as_node="respond")
    store.close()
    assert len(whole_turn_problems(stored_messages(home, "old"))) == 4

    server = ScriptedRemote("echo")
    try:
        a = Assistant(RemotePolicy(base_url=server.url), home, tools=[])
        r = a.respond(text="q3", thread_id="old")
        a.close()
    finally:
        server.close()
    assert r.reply_text == "You said: q3."
    sent = [m for m in server.requests[0][1]["messages"] if m["role"] != "system"][:-1]  # no prefill
    assert [m["role"] for m in sent] == ["human", "assistant", "input", "input", "assistant", "human"]
    assert sent[3] == {"role": "input", "tool_call_id": "c2", "content": f"Error: {INTERRUPTED_RESULT}"}
    msgs = stored_messages(home, "old")
    assert whole_turn_problems(msgs) == []
    assert [label(m) for m in msgs if m.type == "human"] == ["q1", "q3"]
