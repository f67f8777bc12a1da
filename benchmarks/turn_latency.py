"""End-of-speech -> first reply audio, through the graph vs baselines measured in the same run.

Embedded policy: five short spoken questions (Piper TTS) on the CPU. The graph path is
`Assistant.stream_turn` (LangGraph + SQLite checkpoints + ToolNode); the baseline runs
the same steps by hand — VAD trim, `policy.stream`, the tool function, `policy.stream`
again, the speaker's first chunk — so the ratio shows what the graph adds.

Step-Audio 2: a tiny random-weight checkpoint written through the real loading path, biased
to speak (`write_tiny_checkpoint(speech_bias=...)`) so a reply is ~200 generated tokens of
speech codes, with a tiny token2wav. The graph streams: codes go to token2wav in 25-token
chunks while generation goes on. The baseline is the old path: generate the whole reply,
then synthesize (its first chunk). The ratio shows what streaming buys at that length.

    python benchmarks/turn_latency.py [--repeats 3] [--only embedded|step-audio-2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from core import audio as core_audio  # noqa: E402

QUESTIONS = [
    "What time is it in Tokyo?",
    "What is 17 times 23?",
    "What's the time in Paris?",
    "Calculate 45 plus 12.",
    "Please order me a large pizza.",
]


def speak(text: str, path: Path) -> Path:
    from model.embedded.tts import PiperSpeaker

    speaker = PiperSpeaker()  # the voice is loaded once per process
    sf.write(path, speaker.synthesize(text), speaker.sample_rate)
    return path


def direct_turn(
    policy, tools, samples: np.ndarray, rate: int, tmp: Path
) -> tuple[float, dict[str, float]]:
    """The same turn without the graph: returns (ms to first audio, stage ms)."""
    from langchain_core.messages import ToolCall as LCToolCall

    from agents.tools import tool_specs
    from model.embedded.vad import trim
    from model.events import TextDelta, ToolCall
    from model.messages import AudioPart, Message, TextPart, ToolCallPart, ToolResultPart

    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    x = core_audio.resample(core_audio.to_mono(samples), rate, 16000)
    x, _ = trim(x.astype(np.float32), 16000)
    p = tmp / f"direct-{time.time_ns()}.wav"
    sf.write(p, x, 16000)
    stages["vad"] = (time.perf_counter() - t0) * 1000
    specs = tool_specs(tools)
    by_name = {t.name: t for t in tools}
    msgs = [Message(role="user", parts=[AudioPart(path=str(p), sample_rate=16000)])]
    text = ""
    t1 = time.perf_counter()
    for _hop in range(4):
        calls, text = [], ""
        for ev in policy.stream(msgs, specs):
            if isinstance(ev, ToolCall):
                calls.append(ev)
            elif isinstance(ev, TextDelta):
                text += ev.text
            elif ev.type == "transcript":
                for part in msgs[0].parts_of(AudioPart):
                    part.transcript = ev.text
        if not calls:
            break
        msgs.append(
            Message(
                role="assistant",
                parts=[ToolCallPart(id=c.id, name=c.name, arguments=c.arguments) for c in calls],
            )
        )
        for c in calls:
            res = by_name[c.name].invoke(
                LCToolCall(name=c.name, args=c.arguments, id=c.id, type="tool_call")
            )
            msgs.append(
                Message(
                    role="tool",
                    parts=[ToolResultPart(call_id=c.id, name=c.name, content=str(res.content))],
                )
            )
    stages["policy+tools"] = (time.perf_counter() - t1) * 1000
    msgs.append(Message(role="assistant", parts=[TextPart(text=text)]))
    t2 = time.perf_counter()
    next(iter(policy.speaker().speak(text, [], None)))
    stages["tts_first_chunk"] = (time.perf_counter() - t2) * 1000
    return (time.perf_counter() - t0) * 1000, stages


def stepaudio2_rows(tmp: Path, repeats: int, new_tokens: int = 200) -> None:
    """Time to first reply audio on the tiny Step-Audio 2: streamed graph turn vs the old
    speak-after-generation path, same checkpoint, same question, same run."""
    from agents import Assistant
    from model.events import AudioChunk, AudioTokens, TextDelta
    from model.messages import AudioPart, Message
    from model.registry import get_policy
    from model.stepaudio2.tiny import write_tiny_checkpoint

    ckpt = write_tiny_checkpoint(
        tmp / "sa2", speech_bias=200.0, max_new_tokens=new_tokens, token2wav=True
    )
    policy = get_policy("step-audio-2", model_dir=ckpt, device="cpu", seed=0)
    asst = Assistant(policy, tmp / "home-sa2", tools=[])
    q = speak("Tell me a story about the sea.", tmp / "sa2-q.wav")
    samples, rate = sf.read(q, dtype="float32")
    asst.respond(samples, rate, thread_id="warmup")  # load the model, token2wav, the prompt

    def old_path() -> tuple[float, int]:
        msgs = [Message(role="user", parts=[AudioPart(path=str(q), sample_rate=rate)])]
        t0 = time.perf_counter()
        text, codes = "", []
        for ev in policy.stream(msgs, []):
            if isinstance(ev, AudioTokens):
                codes += ev.tokens
            elif isinstance(ev, TextDelta):
                text += ev.text
        next(iter(policy.speaker().speak(text, codes, None)))
        return (time.perf_counter() - t0) * 1000, len(codes)

    streamed, old, gen_ms, n_codes = [], [], [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        first = None
        for ev in asst.stream_turn(samples, rate, thread_id=f"sa2-{r}"):
            if isinstance(ev, AudioChunk) and first is None:
                first = (time.perf_counter() - t0) * 1000
            if ev.type == "turn_done":
                gen_ms.append(ev.result.timings_ms.get("policy", float("nan")))
        streamed.append(first or float("nan"))
        ms, n = old_path()
        old.append(ms)
        n_codes.append(n)
    asst.close()
    s_med, o_med = statistics.median(streamed), statistics.median(old)
    print(
        f"\nStep-Audio 2 (tiny, speech-biased, {statistics.median(n_codes):.0f} speech codes "
        f"per reply, token2wav tiny), CPU, {repeats} turns"
    )
    print(f"{'path':44s} {'first audio ms':>15s}")
    print(f"{'graph, streamed (Assistant.stream_turn)':44s} {s_med:15.1f}")
    print(f"{'baseline: generate all, then speak (old)':44s} {o_med:15.1f}")
    print(f"{'whole generation (policy stage, graph)':44s} {statistics.median(gen_ms):15.1f}")
    print(f"{'ratio streamed / old':44s} {s_med / o_med:15.2f}   (target <= 0.35)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["embedded", "step-audio-2"], default=None)
    args = ap.parse_args()

    from agents import Assistant
    from model.embedded.policy import EmbeddedPolicy
    from model.events import AudioChunk, TurnDone

    if args.only != "embedded":
        stepaudio2_rows(Path(tempfile.mkdtemp(prefix="stepvox-bench-sa2-")), args.repeats)
        if args.only == "step-audio-2":
            return

    tmp = Path(tempfile.mkdtemp(prefix="stepvox-bench-"))
    policy = EmbeddedPolicy()
    asst = Assistant(policy, tmp / "home", tool_timeout_s=2.0)
    clips = []
    for i, q in enumerate(QUESTIONS):
        samples, rate = sf.read(speak(q, tmp / f"q{i}.wav"), dtype="float32")
        clips.append((q, samples, rate))
    # warm up every model once (load time is not turn latency)
    asst.respond(clips[0][1], clips[0][2], thread_id="warmup")
    direct_turn(policy, asst.tools, clips[0][1], clips[0][2], tmp)

    graph_ms, direct_ms = [], []
    stage_sums: dict[str, list[float]] = {}
    for r in range(args.repeats):
        for i, (_q, samples, rate) in enumerate(clips):
            t0 = time.perf_counter()
            first = None
            result = None
            for ev in asst.stream_turn(samples, rate, thread_id=f"bench-{r}-{i}"):
                if isinstance(ev, AudioChunk) and first is None:
                    first = (time.perf_counter() - t0) * 1000
                if isinstance(ev, TurnDone):
                    result = ev.result
            graph_ms.append(first or float("nan"))
            for k, v in result.timings_ms.items():
                if k not in ("first_audio", "total", "tts"):
                    stage_sums.setdefault(k, []).append(v)
            d, _ = direct_turn(policy, asst.tools, samples, rate, tmp)
            direct_ms.append(d)
    asst.close()

    g, d = statistics.median(graph_ms), statistics.median(direct_ms)
    print(
        f"\nEnd of speech -> first reply audio, {len(QUESTIONS)} questions x {args.repeats}, embedded policy, CPU"
    )
    print(f"{'path':32s} {'median ms':>10s} {'p90 ms':>10s}")
    q90 = lambda xs: float(np.percentile(xs, 90))  # noqa: E731
    print(f"{'graph (Assistant.stream_turn)':32s} {g:10.1f} {q90(graph_ms):10.1f}")
    print(f"{'baseline: policy called directly':32s} {d:10.1f} {q90(direct_ms):10.1f}")
    print(f"{'ratio graph / direct':32s} {g / d:10.2f}")
    print("\nStage share of the graph turn (median ms per turn)")
    meds = {k: statistics.median(v) for k, v in stage_sums.items()}
    total = sum(meds.values())
    print(f"{'stage':20s} {'ms':>8s} {'share':>7s}")
    for k, v in meds.items():
        print(f"{k:20s} {v:8.1f} {100 * v / total:6.1f}%")
    print(
        f"{'graph overhead':20s} {max(0.0, g - total):8.1f} {100 * max(0.0, g - total) / g:6.1f}%"
    )


if __name__ == "__main__":
    main()
