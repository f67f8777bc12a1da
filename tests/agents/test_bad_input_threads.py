"""Bad input to the conversation commands, as real `stepvox` subprocesses against a home that
holds real conversations: each exits 2 with one line naming the input and the problem, and
the stored data (checkpoint rows, recordings, corpora, voices) is unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.agents.conversation_checks import seed, store_digest

ROOT = Path(__file__).resolve().parents[2]
NAMES_ID = "use letters, digits, '_', '.', '@' and '-', starting with a letter, digit or '_'"
DURATION = "not a duration (a number and a unit s, m, h, d or w: 12h, 30d, 2w)"

# name: (arguments, extra environment, what the one line says)
CASES: dict[str, tuple[list[str], dict[str, str], str]] = {
    "delete an unknown thread": (["threads", "delete", "nope"], {}, "thread 'nope': no such conversation"),
    "delete an empty id": (["threads", "delete", ""], {}, "thread id '': empty"),
    "delete a path": (["threads", "delete", "../kitchen"], {}, f"thread id '../kitchen': {NAMES_ID}"),
    "delete an absolute path": (["threads", "delete", "/etc/passwd"], {}, f"thread id '/etc/passwd': {NAMES_ID}"),
    "delete a hidden name": (["threads", "delete", ".kitchen"], {}, f"thread id '.kitchen': {NAMES_ID}"),
    "delete an id with a newline": (["threads", "delete", "kit\nchen"], {}, f"thread id 'kit\\nchen': {NAMES_ID}"),
    "delete a too long id": (["threads", "delete", "k" * 300], {}, "too long (300 characters, at most 128)"),
    "delete without an id": (["threads", "delete"], {}, "Missing argument 'ID'"),
    "prune abc": (["prune", "--older-than", "abc"], {}, f"--older-than 'abc': {DURATION}"),
    "prune -1d": (["prune", "--older-than", "-1d"], {}, f"--older-than '-1d': {DURATION}"),
    "prune 0d": (["prune", "--older-than", "0d"], {}, "--older-than '0d': must be longer than zero"),
    "prune 30x": (["prune", "--older-than", "30x"], {}, f"--older-than '30x': {DURATION}"),
    "prune empty": (["prune", "--older-than", ""], {}, f"--older-than '': {DURATION}"),
    "prune 1e3d": (["prune", "--older-than", "1e3d"], {}, f"--older-than '1e3d': {DURATION}"),
    "prune 30 d d": (["prune", "--older-than", "30 d d"], {}, f"--older-than '30 d d': {DURATION}"),
    "prune a million weeks": (["prune", "--older-than", "1000000w"], {}, "longer than 100 years"),
    "prune without a duration": (["prune"], {}, "Missing option '--older-than'"),
    "ask on a path thread": (["ask", "hi", "-o", "{tmp}/r.wav", "--thread", "../../x"], {},
                             f"--thread '../../x': {NAMES_ID}"),
    "ask on an empty thread": (["ask", "hi", "-o", "{tmp}/r.wav", "--thread", ""], {}, "''"),
    "ask on a too long thread": (["ask", "hi", "-o", "{tmp}/r.wav", "--thread", "t" * 129], {},
                                 "too long (129 characters, at most 128)"),
    "respond on a path thread": (["respond", "{wav}", "-o", "{tmp}/r.wav", "--thread", "a/../../b"], {},
                                 f"--thread 'a/../../b': {NAMES_ID}"),
    "approve a thread that waits for nothing": (["threads", "approve", "kitchen"], {},
                                                "thread kitchen: not waiting for anyone"),
    "deny an unknown thread": (["threads", "deny", "nope"], {}, "thread 'nope': no such conversation"),
    "approve a path id": (["threads", "approve", "../kitchen"], {}, f"'../kitchen': {NAMES_ID}"),
    "reply with an empty answer": (["threads", "reply", "kitchen", "  "], {},
                                   "threads reply: the answer is empty"),
    "reply to a thread that waits for nothing": (["threads", "reply", "garage", "hello"], {},
                                                 "thread garage: not waiting for anyone"),
    "show an unknown thread": (["threads", "show", "nope"], {}, "thread 'nope': no such conversation"),
    "show a path id": (["threads", "show", "a/b"], {}, f"thread id 'a/b': {NAMES_ID}"),
    "approve tools with a bad name": (["threads", "list"], {"STEPVOX_APPROVE_TOOLS": "calc ulator"},
                                      "STEPVOX_APPROVE_TOOLS"),
    "escalate after a negative count": (["threads", "list"], {"STEPVOX_ESCALATE_AFTER": "-1"},
                                        "STEPVOX_ESCALATE_AFTER = '-1'"),
    "a tool entry without a name": (["ask", "hi", "-o", "{tmp}/r.wav"], {"STEPVOX_TOOLS": "mytools"},
                                    "tool mytools: expected module:name"),
    "a tool module that is missing": (["ask", "hi", "-o", "{tmp}/r.wav"],
                                      {"STEPVOX_TOOLS": "no_such_mod_xyz:send"},
                                      "tool no_such_mod_xyz:send: cannot import no_such_mod_xyz"),
    "a tool that is not there": (["ask", "hi", "-o", "{tmp}/r.wav"], {"STEPVOX_TOOLS": "json:nothing_here"},
                                 "tool json:nothing_here: json has no nothing_here"),
    "a tool that is not a tool": (["ask", "hi", "-o", "{tmp}/r.wav"], {"STEPVOX_TOOLS": "json:__name__"},
                                  "tool json:__name__: str is not a tool"),
    "approval for a tool nobody has": (["ask", "hi", "-o", "{tmp}/r.wav"],
                                       {"STEPVOX_APPROVE_TOOLS": "send_fax"},
                                       "approve_tools: no tool named 'send_fax'"),
    "turn wait zero": (["threads", "list"], {"STEPVOX_TURN_WAIT_S": "0"}, "STEPVOX_TURN_WAIT_S = '0'"),
    "turn wait not a number": (["threads", "delete", "kitchen"], {"STEPVOX_TURN_WAIT_S": "soon"},
                               "STEPVOX_TURN_WAIT_S = 'soon'"),
    "retention negative": (["threads", "list"], {"STEPVOX_RETENTION_DAYS": "-3"}, "STEPVOX_RETENTION_DAYS = '-3'"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, speak):
    home = tmp_path_factory.mktemp("bad") / "home"
    tmp = tmp_path_factory.mktemp("out")
    wav = speak("What time is it?")
    seed(home, [("kitchen", wav), ("garage", "what time is it")])
    before = store_digest(home)

    def run(case: str) -> subprocess.CompletedProcess:
        args, extra, _ = CASES[case]
        args = [a.format(tmp=tmp, wav=wav) for a in args]
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra}
        return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=240)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(CASES, pool.map(run, CASES), strict=True))
    return results, before, store_digest(home), tmp


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_and_changes_nothing(runs, case):
    results, before, after, tmp = runs
    p = results[case]
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert CASES[case][2] in lines[0]
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert after == before  # every case ran; the stored data is as it was
    assert not (tmp / "r.wav").exists()
