"""`stepvox chat | devices | serve` as a user runs them (subprocesses)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.server.run import free_port

ROOT = Path(__file__).resolve().parents[2]
# the CLI with the live commands registered (assistant/cli.py does this once the lead wires it in)
RUN = (
    "from assistant import cli, cli_live\n"
    "if 'chat' not in {c.name or c.callback.__name__ for c in cli.app.registered_commands}:\n"
    "    cli_live.register(cli.app, cli.model_app)\n"
    "cli.main()\n"
)


def stepvox(*args, env_extra=None, **kw):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-c", RUN, *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def _audio_available() -> bool:
    try:
        import sounddevice as sd

        return len(sd.query_devices()) > 0
    except OSError:
        return False


@pytest.mark.skipif(_audio_available(), reason="this machine has PortAudio and audio devices")
@pytest.mark.parametrize(
    "cmd", [["chat"], ["devices"], ["chat", "--push-to-talk", "--input-device", "3"]]
)
def test_no_audio_is_one_line_and_exit_2(cmd):
    p = stepvox(*cmd)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "PortAudio" in err or "device" in err


def test_serve_beyond_loopback_generates_and_checks_a_token(tmp_path):
    port = free_port()
    p = stepvox(
        "serve", "--host", "0.0.0.0", "--port", str(port), env_extra={"STEPVOX_HOME": str(tmp_path)}
    )
    try:
        token, deadline = None, time.time() + 60
        lines = []
        while time.time() < deadline and token is None:
            line = p.stderr.readline()
            lines.append(line)
            m = re.search(r"access token \(generated\): (\S+)", line)
            if m:
                token = m.group(1)
        assert token, lines
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/api/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert httpx.get(base + "/").status_code == 401
        assert httpx.get(base + f"/?token={token}").status_code == 200
        assert (
            httpx.get(
                base + "/api/voices", timeout=5, headers={"Authorization": "Bearer nope"}
            ).status_code
            == 401
        )
    finally:
        p.terminate()
        p.communicate(timeout=20)


def test_serve_reports_an_unusable_address():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = stepvox("serve", "--port", str(port))
        out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and str(port) in err and "Traceback" not in err
    p = stepvox("serve", "--host", "no-such-host.invalid")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "no-such-host.invalid" in err


def test_chat_from_a_file_answers_and_ctrl_c_exits_with_the_conversation_saved(tmp_path):
    import signal
    import sqlite3
    import threading

    import numpy as np
    import soundfile as sf

    from tests.live.audio_helpers import silence, speech

    q = tmp_path / "q.wav"
    sf.write(
        str(q),
        np.concatenate([silence(0.3), speech("What time is it in Tokyo?"), silence(0.2)]),
        16000,
    )
    out = tmp_path / "heard.wav"
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
        "STEPVOX_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "300",
    }
    # chat starts with SIGINT ignored, as a shell without job control starts a background job (a
    # CI runner's `make test &`): it must still quit on Ctrl-C (it ran on for ever)
    sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited across exec
    try:
        p = subprocess.Popen(
            [
                sys.executable,
                "-c",
                RUN,
                "chat",
                "--input-file",
                str(q),
                "--output-file",
                str(out),
                "--thread",
                "cli-t1",
                "--silence-ms",
                "500",
            ],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, sigint)
    watchdog = threading.Timer(150, p.kill)
    watchdog.start()
    lines = []
    try:
        for line in p.stdout:
            lines.append(line.rstrip())
            if line.rstrip().endswith("ms)"):
                break  # the turn is done (its timings line follows the reply)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        rest, err = p.communicate(timeout=60)
    finally:
        watchdog.cancel()
    lines += rest.splitlines()
    text = "\n".join(lines)
    assert p.returncode == 0, (text, err)
    assert "you: What time is it in Tokyo?" in text or "tokyo" in text.lower(), text
    assert "tool → " in text and "assistant:" in text, text
    assert "conversation saved as 'cli-t1'" in text, text
    audio, sr = sf.read(str(out))
    assert np.abs(audio).max() > 0.05  # the reply was played (into the file)
    with sqlite3.connect(home / "conversations.sqlite") as db:
        threads = {r[0] for r in db.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert "cli-t1" in threads


def test_ctrl_c_landing_as_a_turn_starts_still_closes_the_session():
    """Ctrl-C raised in `start_turn` after the turn's thread is made, before it starts: `close()`
    returns (it raised 'cannot join thread before it is started', so chat closed nothing)."""
    from assistant.live.endpointer import load_vad
    from assistant.live.playback import Player
    from assistant.live.session import LiveSession
    from model.events import TurnStarted
    from tests.live.audio_helpers import SpeakingAssistant, speech

    def on_event(ev):
        if isinstance(ev, TurnStarted):
            raise KeyboardInterrupt  # what SIGINT raises in the main thread at this point

    asst = SpeakingAssistant()
    s = LiveSession(asst, Player(24000), thread_id="t", on_event=on_event, vad_model=load_vad())
    with pytest.raises(KeyboardInterrupt):
        s.start_turn(speech("What time is it?"))
    s.close(timeout=5)
    assert s.closed and asst.calls == []  # the turn never ran
