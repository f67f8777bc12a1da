"""A reduced `benchmarks/server_load.py` (2 sessions x 1 spoken turn, 20 connections) against a
real uvicorn server with the real assistant, so the benchmark cannot rot: every turn answered,
every connection served, no session left behind, the server's memory flat."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from assistant.server.app import create_app
from assistant.server.run import ServerThread
from tests.live.server_helpers import wait_closed

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "server_load.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("server_load", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["server_load"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_reduced_server_load(real_assistant, tmp_path):
    bench = load_benchmark()
    app = create_app(real_assistant, upload_dir=tmp_path / "uploads")
    with ServerThread(app) as srv:
        rep = bench.run_load(srv.url.replace("http", "ws") + "/ws", os.getpid(), sessions=2, turns=1,
                             connections=20, every=10, baseline=False)
        assert wait_closed(app)  # the last socket's session is closed just after the client left
    doc = bench.as_json(rep)
    assert doc["concurrent"]["ok"] == doc["concurrent"]["total"] == 2, doc
    assert doc["connections"]["ok"] == 20, doc
    assert [r["after_connections"] for r in doc["rss_mb"]] == [0, 10, 20]
    assert doc["rss_growth_mb"] < 25, doc  # in-process: the test runner's memory too
    text = bench.table(rep)
    assert "2 sessions x 1 turns" in text and "2/2" in text and "RSS growth 10 -> 20" in text
