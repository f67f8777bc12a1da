"""`stepvox model token2wav` / `make-tiny-token2wav` through the real CLI entry point."""

from __future__ import annotations

import json
import sys

import pytest
import soundfile as sf

from assistant import cli


def run_cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["stepvox", *args])
    try:
        cli.main()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    mp = pytest.MonkeyPatch()
    try:
        assert run_cli(mp, "model", "make-tiny-token2wav", str(root / "token2wav")) == 0
    finally:
        mp.undo()
    return root


def test_make_tiny_writes_official_layout(ckpt):
    names = sorted(p.name for p in (ckpt / "token2wav").iterdir())
    assert names == [
        "campplus.onnx",
        "flow.pt",
        "flow.yaml",
        "hift.pt",
        "speech_tokenizer_v2_25hz.onnx",
    ]


def test_token2wav_100_tokens_is_4_seconds(ckpt, tmp_path, monkeypatch, capsys):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(" ".join(str(i * 61 % 6561) for i in range(100)))
    out = tmp_path / "out.wav"
    rc = run_cli(
        monkeypatch,
        "model",
        "token2wav",
        str(ckpt),
        "--tokens",
        str(tokens),
        "-o",
        str(out),
        "--json",
    )
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tokens"] == 100 and info["duration_s"] == 4.0 and info["sample_rate"] == 24000
    meta = sf.info(str(out))
    assert meta.samplerate == 24000 and meta.channels == 1 and meta.frames == 96000


def test_prompt_changes_the_output(ckpt, tmp_path, monkeypatch, capsys):
    from model.token2wav import default_prompt_path

    a, sr = sf.read(str(default_prompt_path()), dtype="float32")
    other = tmp_path / "other.wav"
    sf.write(str(other), a[::-1].copy(), sr)  # the same voice reversed: another prompt
    outs = []
    for prompt in (default_prompt_path(), other):
        out = tmp_path / f"{prompt.stem}.wav"
        rc = run_cli(
            monkeypatch,
            "model",
            "token2wav",
            str(ckpt / "token2wav"),
            "--tokens",
            "[5, 99, 1200, 6560, 0, 17, 17, 300]",
            "--prompt",
            str(prompt),
            "-o",
            str(out),
            "--json",
        )
        assert rc == 0
        outs.append(sf.read(str(out))[0])
    capsys.readouterr()
    assert outs[0].shape == outs[1].shape == (8 * 960,)
    assert abs(outs[0] - outs[1]).mean() > 0


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ("1,2,6561", "6561 is outside 0..6560"),
        ("-1 2", "-1 is outside 0..6560"),
        ("1,x", "'x' is not an integer"),
    ],
)
def test_bad_tokens_exit_2(ckpt, tmp_path, monkeypatch, capsys, tokens, message):
    rc = run_cli(
        monkeypatch,
        "model",
        "token2wav",
        str(ckpt),
        "--tokens",
        tokens,
        "-o",
        str(tmp_path / "o.wav"),
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_checkpoint_exit_2(tmp_path, monkeypatch, capsys):
    rc = run_cli(
        monkeypatch,
        "model",
        "token2wav",
        str(tmp_path / "nope"),
        "--tokens",
        "1 2",
        "-o",
        str(tmp_path / "o.wav"),
    )
    assert rc == 2
    assert "nope: no such directory" in capsys.readouterr().err
