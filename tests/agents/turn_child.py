"""A turn runner for kill tests: `python turn_child.py HOME URL THREAD SPEECH_WAV`.

It imports the whole stack once, then waits on stdin. Each line `go K` forks a child process
that opens an `Assistant` (remote policy at URL), prints `pid P`, then runs turns K, K+1, ...
on THREAD for ever — even K spoken (`respond` with SPEECH_WAV, labelled "turn K"), odd K
typed (`ask`, "turn K: ...") — and prints `ack K` after each completed turn. The test kills the child with SIGKILL at random
times; this parent reaps it, prints `exit P`, and waits for the next `go`. Forking keeps a
restart cheap (no imports), so a test can afford many kills; each child is a real process.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import soundfile as sf  # noqa: E402

from agents import Assistant  # noqa: E402
from core.settings import load_settings  # noqa: E402
from model import remote  # noqa: E402, F401  (imported here, before any fork)


def run_turns(home: str, url: str, thread: str, wav: str, k: int) -> None:
    settings = load_settings(home=home, policy="remote", remote_url=url)
    asst = Assistant.from_settings(settings)
    samples, rate = sf.read(wav, dtype="float32")
    print(f"pid {os.getpid()}", flush=True)
    while True:
        if k % 2 == 0:
            asst.respond(samples, rate, thread_id=thread, text=f"turn {k} (spoken)")
        else:
            asst.respond(text=f"turn {k}: what time is it?", thread_id=thread)
        print(f"ack {k}", flush=True)
        k += 1


def main() -> None:
    home, url, thread, wav = sys.argv[1:5]
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        k = int(cmd[1])
        pid = os.fork()
        if pid == 0:
            try:
                run_turns(home, url, thread, wav, k)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        print(f"exit {pid} {status}", flush=True)


if __name__ == "__main__":
    main()
