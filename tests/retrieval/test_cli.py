"""`stepvox corpus ...` through the real CLI entry point (subprocess, real files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", STEPVOX_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", "corpus", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_corpus_cli_roundtrip(tmp_path: Path, docs_dir: Path) -> None:
    home = tmp_path / "home"
    r = _cli(
        "add", str(docs_dir), str(tmp_path / "nope.txt"), "--name", "field", "--json", home=home
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert len(rep["added"]) == 5 and rep["skipped"] == [
        [str(tmp_path / "nope.txt"), "no such file or directory"]
    ]
    assert (home / "corpora" / "corpus.sqlite").exists()

    r = _cli(
        "query",
        "How many members does the Quillfeather Society have?",
        "--top",
        "2",
        "--json",
        home=home,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"]
    assert len(res) == 2
    assert {"source", "title", "score", "text", "section", "relevance", "corpus"} <= set(res[0])
    assert res[0]["source"].endswith("report.pdf") and "1,284" in res[0]["text"]

    r = _cli("list", "--json", home=home)
    assert json.loads(r.stdout)["corpora"][0]["documents"] == 5

    r = _cli("remove", "field", "--json", home=tmp_path / "elsewhere")
    assert (
        r.returncode == 2
        and r.stderr.strip() == "error: field: no corpus or indexed document by that name or path"
    )
    r = _cli("remove", "field", home=home)
    assert r.returncode == 0 and "removed 5 documents" in r.stdout


def test_corpus_cli_bad_input(tmp_path: Path) -> None:
    r = _cli("add", str(tmp_path / "missing-dir"), home=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'missing-dir'}: no such file or directory"
    r = _cli("query", "x", "--mode", "fuzzy", home=tmp_path)
    assert r.returncode == 2 and "--mode fuzzy" in r.stderr
