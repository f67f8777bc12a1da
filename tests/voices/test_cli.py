"""`stepvox voices ...` on a fresh STEPVOX_HOME, through the real entry point (exit codes,
JSON shapes, one-line errors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.voices.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    """`stepvox voices ARGS --library HOME/voices` in this process (tests/voices/helpers.py)."""
    if "--library" not in args:
        args = (*args, "--library", str(home / "voices"))
    return run_cli("voices", *args)


def run_process(home: Path, *args: str) -> subprocess.CompletedProcess:
    """A real `python -m assistant.cli` process on a fresh STEPVOX_HOME."""
    env = {**os.environ, "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", "voices", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def js(p: subprocess.CompletedProcess):
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_voices_cli_end_to_end(home, small_clips, tmp_path):
    folder = tmp_path / "incoming"
    (folder / "sub").mkdir(parents=True)
    for c in small_clips[2:]:
        (folder / "sub" / c.name).write_bytes(c.read_bytes())
    (folder / "broken.flac").write_bytes(b"fLaC-not-really")

    v = js(
        run(
            home,
            "add",
            str(small_clips[0]),
            "--name",
            "Ada",
            "--tags",
            "warm,narrator",
            "--description",
            "a cheerful young woman",
            "--style",
            "cheerful",
            "--json",
        )
    )
    assert v["name"] == "Ada" and v["tags"] == ["narrator", "warm"] and v["id"].startswith("v")
    assert Path(v["audio_path"]).is_relative_to(home / "voices")

    rep = js(run(home, "import", str(folder), "--json"))
    assert len(rep["added"]) == 4 and rep["total"] == 5
    assert (
        rep["failed"][0]["path"].endswith("broken.flac")
        and "broken.flac" in rep["failed"][0]["reason"]
    )
    assert {s["path"].split("-part")[0] for s in rep["same_speaker"]} <= {
        str(folder / "sub" / c.name).split("-part")[0] for c in small_clips[2:]
    }
    again = js(run(home, "import", str(folder), "--json"))
    assert again["added"] == [] and again["already_imported"] == 4

    listed = js(run(home, "list", "--json"))
    assert len(listed) == 5 and {"id", "name", "gender", "median_f0_hz", "quality"} <= set(
        listed[0]
    )
    assert [x["name"] for x in js(run(home, "list", "--filter", "tag=warm", "--json"))] == ["Ada"]

    shown = js(run(home, "show", "ada", "--json"))
    assert shown["id"] == v["id"] and "snr_db" in shown["quality_metrics"]

    res = js(
        run(
            home,
            "search",
            "--audio",
            str(small_clips[1]),
            str(small_clips[3]),
            "--top",
            "2",
            "--json",
        )
    )
    assert len(res) == 2 and all(set(r) == {"query", "results"} for r in res)
    assert res[0]["results"][0]["name"] == "Ada" and {"id", "name", "score", "gender"} <= set(
        res[0]["results"][0]
    )
    res = js(
        run(home, "search", "--text", "cheerful young woman", "--filter", "gender=female", "--json")
    )
    assert res[0]["query"] == {"text": "cheerful young woman", "filters": {"gender": "female"}}
    assert res[0]["results"][0]["name"] == "Ada"

    tagged = js(run(home, "tag", "Ada", "--add", "favourite", "--remove", "warm", "--json"))
    assert tagged["tags"] == ["favourite", "narrator"]

    ded = js(run(home, "dedupe", "--threshold", "0.75", "--json"))
    assert ded["voices"] == 5 and isinstance(ded["clusters"], list)
    chk = js(run(home, "check", "--json"))
    assert chk["voices"] == 5 and sum(chk["verdicts"].values()) == 5

    arch = tmp_path / "lib.tar"
    assert js(run(home, "export", str(arch), "--json"))["voices"] == 5
    other = tmp_path / "other"
    imp = js(run(home, "import-archive", str(arch), "--library", str(other), "--json"))
    assert len(imp["added"]) == 5 and imp["total"] == 5

    rb = js(run(home, "rebuild-index", "--json"))
    assert rb["indexes"]["speaker:resemblyzer"] == {"kind": "flat", "vectors": 5}

    gone = js(run(home, "remove", v["id"], "--json"))
    assert gone == {"removed": v["id"], "name": "Ada", "total": 4}


def test_cli_bad_input_is_one_line_exit_2(home, tmp_path):
    for args in (
        ("add", str(tmp_path / "nope.wav")),
        ("show", "no-such-voice"),
        ("search", "--filter", "colour=red"),
        ("search", "--filter", "nonsense"),
        ("import", str(tmp_path / "missing-dir")),
        ("import-archive", str(tmp_path / "none.tar")),
    ):
        p = run(home, *args)
        assert p.returncode == 2, (args, p.stderr)
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr


def test_fresh_home_real_process(tmp_path):
    res = js(run_process(tmp_path, "search", "--text", "a calm voice", "--json"))
    assert res == [{"query": {"text": "a calm voice"}, "results": []}]
    assert (tmp_path / "voices" / "library.sqlite").exists()
    p = run_process(tmp_path, "add", str(tmp_path / "nope.wav"))
    assert (
        p.returncode == 2
        and p.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'nope.wav'}: no such file"
    )
