"""Real writer processes, started fast: a zygote process imports the CLI and loads the voice
models once (one torch thread), then forks a child per command. Each child is a separate OS
process running `assistant.cli.main` (or the acknowledging importer below) on its own
database connection, killable with SIGKILL; it costs milliseconds to start instead of the
10-20 s a fresh interpreter spends importing torch and sentence-transformers on a loaded
machine, which is what lets the concurrency and kill tests run dozens of writers."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ZYGOTE = r"""
import json, os, sys
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import torch
torch.set_num_threads(1)
from assistant.cli import main
from voices import VoiceLibrary

import tempfile
import numpy as np
import soundfile as sf

# load the models and take every first-use path once (one torch thread, no tokenizer threads)
with tempfile.TemporaryDirectory() as td:
    t = np.arange(32000) / 16000
    sf.write(f"{td}/warm.wav", 0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(8 * t)), 16000)
    with VoiceLibrary(f"{td}/lib") as warm:
        warm.add(f"{td}/warm.wav")
        warm.search(text="warm", top_k=1)


def ack_import(library, folder):
    # `voices import` that prints one line per committed voice, as soon as it is committed
    with VoiceLibrary(library) as lib:
        lib.import_dir(folder, checkpoint_every=2,
                       on_added=lambda v: print("ack", v.id, flush=True))
    print("done", flush=True)


def child(cmd):
    fd = os.open(cmd["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = sys.stdout
    code = 0
    try:
        if cmd["kind"] == "cli":
            sys.argv = ["stepvox", *cmd["argv"]]
            main()
        else:
            ack_import(*cmd["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:
        print("child failed:", type(e).__name__, e, flush=True)
        code = 1
    sys.stdout.flush()
    os._exit(code)


print("ready", flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "spawn":
        pid = os.fork()
        if pid == 0:
            child(cmd)
        print(json.dumps({"pid": pid}), flush=True)
    elif cmd["op"] == "wait":
        _, status = os.waitpid(cmd["pid"], 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Zygote:
    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"zygote did not start: {line!r}"

    def _ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def spawn(self, out: Path, *argv: str, kind: str = "cli") -> int:
        """Start a child running `stepvox ARGV` (kind "cli") or the acknowledging importer
        (kind "ack_import", argv = library, folder); its stdout and stderr go to `out`."""
        return self._ask(op="spawn", kind=kind, argv=list(argv), out=str(out))["pid"]

    def wait(self, pid: int, timeout: float = 300.0) -> int:
        """The child's exit code (-9 when it was killed by SIGKILL). A child still running
        after `timeout` seconds is killed and the test fails."""
        self.proc.stdin.write(json.dumps({"op": "wait", "pid": pid}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            self.proc.stdout.readline()
            raise AssertionError(f"writer process {pid} still running after {timeout:.0f} s")
        return json.loads(self.proc.stdout.readline())["code"]

    def kill(self, pid: int) -> int:
        os.kill(pid, signal.SIGKILL)
        return self.wait(pid)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)
