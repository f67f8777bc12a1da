"""Bad checkpointer settings and bad keywords: a bad STEPVOX_CHECKPOINTER (a wrong scheme or
port, a server that is down, a database that does not exist) stops `stepvox` with exit 2 and
one line naming the setting, password hidden, with the stored
conversations unchanged; an unknown `Assistant.from_settings` keyword is a one-line TypeError
naming it and the valid ones, raised before anything opens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agents import Assistant
from agents.persistence import BackendUnavailable
from core.settings import load_settings
from tests.agents.conversation_checks import seed, store_digest

ROOT = Path(__file__).resolve().parents[2]
SCHEME = "expected `sqlite` or a postgresql:// URL"
CANNOT = "cannot use the database"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


PORT = closed_port()
# name: (STEPVOX_CHECKPOINTER, command, what the one line says)
CASES: dict[str, tuple[str, list[str], str]] = {
    "another database's scheme": ("mysql://stepvox@db/stepvox", ["threads", "list"],
                                  f"STEPVOX_CHECKPOINTER = 'mysql://stepvox@db/stepvox': {SCHEME}"),
    "a misspelt sqlite": ("sqlite3", ["threads", "list"], f"STEPVOX_CHECKPOINTER = 'sqlite3': {SCHEME}"),
    "a path": ("/var/lib/stepvox.db", ["prune", "--older-than", "1d"], f"'/var/lib/stepvox.db': {SCHEME}"),
    "empty": ("", ["threads", "list"], f"STEPVOX_CHECKPOINTER = '': {SCHEME}"),
    "a port out of range": ("postgresql://db:99999/stepvox", ["threads", "list"], "bad port"),
    "a port that is not a number": ("postgresql://db:five/stepvox", ["threads", "list"], "bad port"),
    "a server that is down": (f"postgresql://stepvox@127.0.0.1:{PORT}/stepvox", ["threads", "list"],
                              f"STEPVOX_CHECKPOINTER = 'postgresql://stepvox@127.0.0.1:{PORT}/stepvox': {CANNOT}"),
    "a password is never shown": (f"postgresql://stepvox:hunter2@127.0.0.1:{PORT}/db", ["threads", "list"],
                                  f"'postgresql://stepvox:***@127.0.0.1:{PORT}/db': {CANNOT}"),
    "a server that is down, on a turn": (f"postgresql://127.0.0.1:{PORT}/stepvox",
                                         ["ask", "what time is it", "-o", "{tmp}/r.wav"], CANNOT),
    "a database that does not exist": ("postgresql://postgres@127.0.0.1:{pg}/no_such_db",
                                       ["threads", "delete", "kitchen"], 'database "no_such_db" does not exist'),
    "an unknown user": ("postgresql://nobody@127.0.0.1:{pg}/postgres", ["threads", "list"],
                        'role "nobody" does not exist'),
    "a bad connection parameter": ("postgresql://127.0.0.1:{pg}/postgres?sslmode=sometimes",
                                   ["threads", "list"], "sslmode"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, postgres):
    home = tmp_path_factory.mktemp("bad") / "home"
    tmp = tmp_path_factory.mktemp("out")
    seed(home, [("kitchen", "what time is it")])
    before = store_digest(home)

    def run(case: str) -> subprocess.CompletedProcess:
        value, args, _ = CASES[case]
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1",
               "STEPVOX_CHECKPOINTER": value.format(pg=postgres.port)}
        return subprocess.run([sys.executable, "-m", "assistant.cli", *[a.format(tmp=tmp) for a in args]],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=240)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(CASES, pool.map(run, CASES), strict=True))
    return results, before, store_digest(home), tmp


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_checkpointer_exits_2_with_one_line_and_changes_nothing(runs, case):
    results, before, after, tmp = runs
    p = results[case]
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, p.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in p.stderr, p.stderr
    assert "STEPVOX_CHECKPOINTER" in lines[0] and CASES[case][2] in lines[0], lines[0]
    assert "hunter2" not in p.stderr + p.stdout
    assert after == before and not (tmp / "r.wav").exists()


def test_an_unknown_policy_option_is_an_error_naming_it(tmp_path):
    settings = load_settings(home=tmp_path / "home", policy="embedded")
    with pytest.raises(TypeError) as e:
        Assistant.from_settings(settings, bogus_option=1)
    msg = str(e.value)
    assert "\n" not in msg and "'bogus_option'" in msg and "route_threshold" in msg
    # the one a developer meant, misspelt
    with pytest.raises(TypeError, match=r"unknown option 'route_treshold' for the embedded policy; "
                                        r"it takes: .*route_threshold"):
        Assistant.from_settings(settings, route_treshold=0.5)
    with pytest.raises(TypeError, match=r"checkpointer: expected a LangGraph checkpointer"):
        Assistant.from_settings(settings, checkpointer=42)
    with pytest.raises(BackendUnavailable, match="checkpointer 'redis://localhost/0': expected"):
        Assistant.from_settings(settings, checkpointer="redis://localhost/0")
    assert not (tmp_path / "home" / "conversations.sqlite").exists()  # refused before opening
