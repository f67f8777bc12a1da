"""Bad input through the real `stepvox` command (a subprocess each): respond, ask, model
token2wav, serve-model and make-tiny with bad files, paths, options and settings.

Every case must exit 2 with exactly one line on stderr that names the input or setting, no
traceback, and leave STEPVOX_HOME exactly as it was (a digest of every file and directory,
contents and modes, before and after). All but one fail before any model loads, so each takes
about as long as the command's start-up. The home is seeded by one real turn, which also checks
that a turn writes nothing outside STEPVOX_HOME (onnxruntime used to write into ~/.cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.core.test_audio import _flac_without_length, corrupt_mp3


def run(args: list[str], home: Path, env: dict[str, str] | None = None, user_home: Path | None = None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("STEPVOX_") and k != "XDG_CACHE_HOME"}
    e.update(STEPVOX_HOME=str(home), HF_HUB_OFFLINE="1")
    if user_home is not None:
        e["HOME"] = str(user_home)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, env=e, timeout=300
    )


def digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        mode = oct(stat.S_IMODE(p.lstat().st_mode))
        body = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        out[str(p.relative_to(root))] = f"{body} {mode}"
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A STEPVOX_HOME holding one real conversation, made by `ask` with HOME pointing at an
    empty folder."""
    home = tmp_path_factory.mktemp("home")
    user_home = tmp_path_factory.mktemp("user")
    out = tmp_path_factory.mktemp("out") / "new" / "reply.wav"
    p = run(["ask", "what is 17 times 23", "-o", str(out), "--thread", "seed", "--json"], home, user_home=user_home)
    return home, user_home, out, p


def test_a_turn_writes_its_reply_atomically_and_nothing_outside_stepvox_home(seeded):
    home, user_home, out, p = seeded
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert "391" in doc["reply_text"] and doc["reply_audio"] == str(out)
    assert sf.info(str(out)).duration > 0.5
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # the user's conversation: private
    assert sorted(x.name for x in out.parent.iterdir()) == ["reply.wav"]  # no temp file left
    assert list(user_home.rglob("*")) == []  # no ~/.cache/Microsoft/... from onnxruntime
    assert (home / "conversations.sqlite").is_file()


@pytest.fixture(scope="module")
def f(tmp_path_factory) -> dict[str, str]:
    """The bad inputs, by placeholder name."""
    d = tmp_path_factory.mktemp("in")
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype(np.float32)
    sf.write(d / "good.wav", tone, 16000)
    (d / "empty.wav").write_bytes(b"")
    sf.write(d / "zero.wav", np.zeros(0, np.float32), 16000)
    (d / "trunc.wav").write_bytes((d / "good.wav").read_bytes()[:40])
    (d / "text.wav").write_text("this is a text file, not audio\n" * 20)
    bad = tone.copy()
    bad[8000] = np.nan
    sf.write(d / "nan.wav", bad, 16000, subtype="FLOAT")
    bad[8000] = np.inf
    sf.write(d / "inf.wav", bad, 16000, subtype="FLOAT")
    corrupt_mp3(d / "corrupt.mp3")
    sf.write(d / "long.wav", np.tile(tone, 3), 16000)  # 3 s; the cases set the limit to 2 s
    sf.write(d / "long.flac", np.zeros(16000 * 30, np.float32), 16000)
    _flac_without_length(d / "long.flac", d / "nolen.flac")
    sf.write(d / "short.wav", tone[:800], 16000)
    sf.write(d / "silent.wav", np.zeros(16000, np.float32), 16000)
    sf.write(d / "long-prompt.wav", np.tile(tone[:8000], 62), 8000)  # 62 s at 8 kHz
    (d / "adir").mkdir()
    (d / "afile").write_text("x")
    (d / "outdir.wav").mkdir()
    (d / "t2w").mkdir()  # token2wav folder: never opened, the checks come first
    (d / "nocfg").mkdir()
    (d / "full").mkdir()
    (d / "full" / "x").write_text("x")
    (d / "bad.toml").write_text("policy = [unclosed\n")
    (d / "unknown.toml").write_text('colour = "blue"\n')
    (d / "badval.toml").write_text("temperature = 9.5\n")
    names = {p.stem.replace("-", "_"): str(p) for p in d.iterdir()}
    names.update(
        dir=str(d / "adir"), missing=str(d / "missing.wav"), out=str(d / "o.wav"), mp3out=str(d / "o.mp3"),
        outdir=str(d / "outdir.wav"), under_file=str(d / "afile" / "o.wav"), long_thread="t" * 200,
    )
    return names


def case(id: str, args: str | list[str], names: str, env: dict[str, str] | None = None):
    return pytest.param(args.split() if isinstance(args, str) else args, names, env or {}, id=id)


RESPOND = "respond {good} -o {out}"
ASK = ["ask", "what time is it", "-o", "{out}"]
T2W = "model token2wav {t2w} --tokens 1,2,3 -o {out}"

CASES = [
    # input audio (respond)
    case("respond-missing-file", "respond {missing} -o {out}", "{missing}: file not found"),
    case("respond-directory", "respond {dir} -o {out}", "{dir}: is a directory"),
    case("respond-empty-file", "respond {empty} -o {out}", "{empty}: empty file"),
    case("respond-zero-samples", "respond {zero} -o {out}", "{zero}: contains zero audio samples"),
    case("respond-truncated-wav", "respond {trunc} -o {out}", "{trunc}: cannot decode audio"),
    case("respond-text-named-wav", "respond {text} -o {out}", "{text}: cannot decode audio"),
    case("respond-nan-samples", "respond {nan} -o {out}", "{nan}: contains NaN or infinite samples"),
    case("respond-inf-samples", "respond {inf} -o {out}", "{inf}: contains NaN or infinite samples"),
    case("respond-corrupt-mp3", "respond {corrupt} -o {out}", "{corrupt}: cannot decode audio"),
    case("respond-too-long", "respond {long} -o {out}", "{long}: audio is 3.0 s long, longer than the limit of 2 s",
         {"STEPVOX_MAX_INPUT_SECONDS": "2"}),
    case("respond-too-long-no-stated-length", "respond {nolen} -o {out}", "{nolen}: audio is longer than the limit",
         {"STEPVOX_MAX_INPUT_SECONDS": "2"}),
    # output path
    case("respond-out-not-wav", "respond {good} -o {mp3out}", "-o {mp3out}: the output is written as WAV"),
    case("respond-out-is-dir", "respond {good} -o {outdir}", "-o {outdir}: is a directory"),
    case("respond-out-under-proc", "respond {good} -o /proc/stepvox-reply.wav", "-o /proc/stepvox-reply.wav: cannot write"),
    case("ask-out-parent-is-file", ["ask", "hi", "-o", "{under_file}"], "-o {under_file}: cannot write"),
    # conversation ids, voices, policies
    case("respond-thread-empty", RESPOND + " --thread=", "--thread '': empty"),
    case("ask-thread-newline", [*ASK, "--thread", "a\nb"], "--thread 'a\\nb': use letters, digits"),
    case("ask-thread-escape", [*ASK, "--thread", "\x1b[31mred"], "--thread '\\x1b[31mred'"),
    case("ask-thread-too-long", [*ASK, "--thread", "{long_thread}"], "too long (200 characters, at most 128)"),
    case("ask-thread-spaces", [*ASK, "--thread", " t "], "--thread ' t ': use letters, digits"),
    case("ask-empty-question", ["ask", "  ", "-o", "{out}"], "ask: the question is empty"),
    case("ask-voice-unknown", [*ASK, "--voice", "nobody"], "--voice 'nobody': no such voice"),
    case("respond-policy-bogus", RESPOND + " --policy bogus", "--policy 'bogus': unknown policy"),
    case("respond-model-missing", RESPOND + " --policy step-audio-2 --model {missing}", "--model {missing}: model directory not found"),
    case("respond-model-not-checkpoint", RESPOND + " --policy step-audio-2 --model {nocfg}", "--model {nocfg}: not a Step-Audio 2 checkpoint"),
    case("ask-remote-url-not-url", [*ASK, "--policy", "remote", "--remote-url", "localhost"], "--remote-url 'localhost': expected an http"),
    case("ask-remote-url-bad-port", [*ASK, "--remote-url", "http://h:99999/v1"], "--remote-url 'http://h:99999/v1': bad port"),
    # settings from the environment and the TOML file
    case("env-max-input-nan", RESPOND, "STEPVOX_MAX_INPUT_SECONDS = 'nan'", {"STEPVOX_MAX_INPUT_SECONDS": "nan"}),
    case("env-max-input-negative", RESPOND, "STEPVOX_MAX_INPUT_SECONDS = '-1'", {"STEPVOX_MAX_INPUT_SECONDS": "-1"}),
    case("env-device-bogus", ASK, "STEPVOX_DEVICE = 'bogus'", {"STEPVOX_DEVICE": "bogus"}),
    case("env-policy-bogus", ASK, "STEPVOX_POLICY 'bogus': unknown policy", {"STEPVOX_POLICY": "bogus"}),
    case("env-remote-url-bogus", ASK, "STEPVOX_REMOTE_URL = 'ftp://x'", {"STEPVOX_REMOTE_URL": "ftp://x"}),
    case("env-unknown-name", ASK, "STEPVOX_FOO: unknown setting", {"STEPVOX_FOO": "1"}),
    case("env-config-missing", ASK, "STEPVOX_CONFIG = '{missing}': no such file", {"STEPVOX_CONFIG": "{missing}"}),
    case("env-config-bad-toml", ASK, "STEPVOX_CONFIG = '{bad}': not valid TOML", {"STEPVOX_CONFIG": "{bad}"}),
    case("env-config-unknown-key", ASK, "colour", {"STEPVOX_CONFIG": "{unknown}"}),
    case("env-config-bad-value", ASK, "temperature in {badval}", {"STEPVOX_CONFIG": "{badval}"}),
    # model token2wav
    case("t2w-device-bogus", T2W + " --device bogus", "--device 'bogus': expected auto, cpu, cuda"),
    case("t2w-device-absent-gpu", T2W + " --device cuda:99", "--device 'cuda:99'"),
    case("t2w-env-device-bogus", T2W, "STEPVOX_DEVICE = 'gpu'", {"STEPVOX_DEVICE": "gpu"}),
    case("t2w-prompt-nan", T2W + " --prompt {nan}", "--prompt {nan}: unusable voice prompt: contains NaN"),
    case("t2w-prompt-silent", T2W + " --prompt {silent}", "--prompt {silent}: unusable voice prompt: is silent"),
    case("t2w-prompt-too-short", T2W + " --prompt {short}", "--prompt {short}: unusable voice prompt: 0.05 s"),
    case("t2w-prompt-too-long", T2W + " --prompt {long_prompt}", "--prompt {long_prompt}: prompt is 62.0 s"),
    case("t2w-prompt-missing", T2W + " --prompt {missing}", "--prompt {missing}: prompt file not found"),
    case("t2w-prompt-not-audio", T2W + " --prompt {text}", "--prompt {text}: not a readable audio file"),
    case("t2w-tokens-out-of-range", "model token2wav {t2w} --tokens 1,7000 -o {out}", "token id 7000 is outside"),
    case("t2w-dir-missing", "model token2wav {missing} --tokens 1 -o {out}", "{missing}: no such directory"),
    case("t2w-out-under-proc", "model token2wav {t2w} --tokens 1 -o /proc/x.wav", "-o /proc/x.wav: cannot write"),
    # Step-Audio 2 commands
    case("serve-model-missing", "serve-model --model {missing}", "--model {missing}: model directory not found"),
    case("serve-model-not-checkpoint", "serve-model --model {nocfg}", "--model {nocfg}: not a Step-Audio 2 checkpoint"),
    case("make-tiny-into-file", "model make-tiny {afile}", "{afile}: exists and is not a directory"),
    case("make-tiny-non-empty", "model make-tiny {full}", "{full}: directory is not empty"),
]


@pytest.mark.parametrize("args,names,env", CASES)
def test_bad_input_exits_2_with_one_line_and_home_unchanged(seeded, f, args, names, env):
    home = seeded[0]
    args = [a.format(**f) for a in args]
    env = {k: v.format(**f) for k, v in env.items()}
    before = digest(home)
    p = run(args, home, env)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert names.format(**f) in lines[0], lines[0]
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert digest(home) == before
    assert not list(Path(f["out"]).parent.glob(".*.tmp.wav"))  # no temp output left behind


def test_output_wav_is_renamed_into_place_and_keeps_an_existing_files_mode(tmp_path):
    from assistant.cli_inputs import OutputWav

    old = tmp_path / "r.wav"
    old.write_bytes(b"old")
    old.chmod(0o644)
    with OutputWav(old) as out:  # a failed command: the old file is untouched, no temp left
        out.tmp.write_bytes(b"half")
    assert old.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["r.wav"]
    with OutputWav(old) as out:
        assert out.tmp.parent == tmp_path and stat.S_IMODE(out.tmp.stat().st_mode) == 0o600
        out.tmp.write_bytes(b"new")
        out.commit()
    assert old.read_bytes() == b"new" and stat.S_IMODE(old.stat().st_mode) == 0o644
    fresh = tmp_path / "sub" / "n.wav"
    with OutputWav(fresh) as out:
        out.tmp.write_bytes(b"x")
        out.commit()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["n.wav", "r.wav", "sub"]
