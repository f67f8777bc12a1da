"""Many real `stepvox` CLI processes without paying the model load each time.

`python tests/retrieval/forkserver.py` imports `assistant.cli`, loads the offline MiniLM
(one thread: no OpenMP pool exists when it forks), then reads one JSON request per line on
stdin and forks a child per request. The child points fds 0/1/2 at /dev/null and the given
files, applies the environment, and runs `assistant.cli.main()` with the given argv, exactly
as `python -m assistant.cli ARGV` would after its imports; it exits with main's exit code.
The server prints `{"tag", "pid"}` when it forked and `{"pid", "rc"}` when a child ended
(rc -9 for kill -9). Each child is a real process, killed for real by the test.

`ForkServer` is the test side: `start(argv, env)` -> Child, `wait(child, timeout)`,
`kill(child)`.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- the server process


def _child(req: dict, main) -> None:  # noqa: ANN001
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.environ.update(req.get("env", {}))
        for k in req.get("unset", []):
            os.environ.pop(k, None)
        os.chdir(req.get("cwd", str(ROOT)))
        from core.settings import get_settings

        get_settings.cache_clear()
        sys.argv = ["stepvox", *req["argv"]]
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ["OMP_NUM_THREADS"] = "1"
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    from assistant.cli import main
    from core.text_embedding import get_text_embedder

    get_text_embedder(None).encode(["warm up"], cache=False)
    # what the corpus commands import when they run, so a child starts where a warm one would
    import bm25s  # noqa: F401
    import rich.console  # noqa: F401
    import rich.progress  # noqa: F401
    import rich.table  # noqa: F401
    import Stemmer  # noqa: F401

    import retrieval  # noqa: F401

    def say(doc: dict) -> None:
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()

    say({"ready": True})
    buf = b""
    open_ = True
    while True:
        if open_ and select.select([0], [], [], 0.01)[0]:
            data = os.read(0, 65536)
            if not data:
                open_ = False
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(req, main)
                say({"tag": req["tag"], "pid": pid})
        elif not open_:
            time.sleep(0.01)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                if not open_:
                    return
                break
            if pid == 0:
                break
            say({"pid": pid, "rc": os.waitstatus_to_exitcode(status)})


# ---------------------------------------------------------------- the test side


@dataclass
class Child:
    tag: int
    pid: int
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


class ForkServer:
    def __init__(self, workdir: Path, ready_timeout: float = 300.0) -> None:
        self.workdir = workdir
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env,
        )  # fmt: skip
        self._cond = threading.Condition()
        self._pids: dict[int, int] = {}
        self._rcs: dict[int, int] = {}
        self._ready = False
        self._tags = 0
        threading.Thread(target=self._read, daemon=True).start()
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self.proc.poll() is not None, ready_timeout):
                raise TimeoutError("fork server did not start")
        if not self._ready:
            raise RuntimeError(f"fork server exited with {self.proc.returncode}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            doc = json.loads(line)
            with self._cond:
                if doc.get("ready"):
                    self._ready = True
                elif "tag" in doc:
                    self._pids[doc["tag"]] = doc["pid"]
                else:
                    self._rcs[doc["pid"]] = doc["rc"]
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> Child:
        """Fork a child running `stepvox ARGV`; returns once it exists."""
        with self._cond:
            self._tags += 1
            tag = self._tags
        out, err = self.workdir / f"child-{tag}.out", self.workdir / f"child-{tag}.err"
        req = {"tag": tag, "argv": argv, "env": env or {}, "stdout": str(out), "stderr": str(err)}
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        with self._cond:
            if not self._cond.wait_for(lambda: tag in self._pids, 60):
                raise TimeoutError("fork server did not fork")
            return Child(tag, self._pids[tag], out, err)

    def wait(self, child: Child, timeout: float) -> int | None:
        """The child's exit code (-9 when killed), or None if it still runs after `timeout`."""
        with self._cond:
            self._cond.wait_for(lambda: child.pid in self._rcs, timeout)
            return self._rcs.get(child.pid)

    def kill(self, child: Child) -> int:
        """kill -9 the child (if it still runs); returns its exit code."""
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = self.wait(child, 30)
        assert rc is not None, f"child {child.pid} did not end after kill -9"
        return rc

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, Child]:
        child = self.start(argv, env)
        rc = self.wait(child, timeout)
        if rc is None:
            rc = self.kill(child)
        return rc, child

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    serve()
