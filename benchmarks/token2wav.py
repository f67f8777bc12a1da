"""token2wav speed: first-chunk latency and whole-stream time of streaming synthesis, in
a cold voice (prompt not primed yet) and a warm one (primed state cached), against the
baseline of one-shot synthesis of the same tokens (same run, same weights).

    python benchmarks/token2wav.py                   # small config on the CPU
    python benchmarks/token2wav.py --size full       # full Step-Audio 2 sizes (GPU if present)
    python benchmarks/token2wav.py --dir CKPT        # a real checkpoint's token2wav folder

Weights are random (written through the real loading path) unless --dir is given;
speed does not depend on the weights' values. The voice prompt is the shipped default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from model.token2wav import Token2Wav, default_prompt_path, write_tiny_token2wav  # noqa: E402
from model.token2wav.config import (  # noqa: E402
    EncoderConfig,
    EstimatorConfig,
    FlowConfig,
    HiFTConfig,
    Token2WavConfig,
)
from model.token2wav.tiny import TINY_CONFIG  # noqa: E402

SMALL_CONFIG = Token2WavConfig(
    flow=FlowConfig(
        input_size=128,
        encoder=EncoderConfig(
            input_size=128,
            output_size=128,
            num_blocks=2,
            num_up_blocks=2,
            attention_heads=4,
            linear_units=512,
        ),
        estimator=EstimatorConfig(depth=4, num_heads=4, head_dim=32, hidden_size=128),
    ),
    hift=HiFTConfig(base_channels=128, f0_cond_channels=128),
)
SIZES = {"tiny": TINY_CONFIG, "small": SMALL_CONFIG, "full": Token2WavConfig()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _stream(t2w: Token2Wav, chunks: list[list[int]], prompt: Path) -> tuple[float, float]:
    """(seconds to the first piece, seconds for the whole stream)."""
    _sync(t2w.device)
    t0 = time.perf_counter()
    first = None
    for piece in t2w.stream(chunks, prompt):
        if first is None:
            _sync(t2w.device)
            first = time.perf_counter() - t0
        del piece
    _sync(t2w.device)
    return first, time.perf_counter() - t0


def _forget_voices(t2w: Token2Wav) -> None:
    """Make the next stream start cold: the primed flow state of the voice is dropped
    (the prompt's front-end features stay cached, as they always were)."""
    cache = getattr(t2w, "voice_cache", None)  # absent before per-voice priming existed
    if cache is not None:
        cache.clear()


def measure(t2w: Token2Wav, tokens: list[int], repeats: int) -> dict[str, float]:
    prompt = default_prompt_path()
    t2w.prepare_prompt(prompt)  # cached: the prompt front end is not timed
    audio_s = len(tokens) / 25
    n = t2w.chunk_size
    chunks = [tokens[i : i + n] for i in range(0, len(tokens), n)]
    t2w.synthesize(tokens[:30], prompt)  # warm-up
    list(t2w.stream(chunks[:2], prompt))
    one, first_cold, total_cold, first_warm, total_warm = [], [], [], [], []
    for _ in range(repeats):
        _sync(t2w.device)
        t0 = time.perf_counter()
        t2w.synthesize(tokens, prompt)
        _sync(t2w.device)
        one.append(time.perf_counter() - t0)
        _forget_voices(t2w)
        f, t = _stream(t2w, chunks, prompt)  # cold voice: the prompt is primed first
        first_cold.append(f)
        total_cold.append(t)
        f, t = _stream(t2w, chunks, prompt)  # warm voice: primed state reused
        first_warm.append(f)
        total_warm.append(t)
    med = statistics.median
    one_s = med(one)
    r = {
        "audio_s": audio_s,
        "oneshot_s": one_s,
        "oneshot_rtf": one_s / audio_s,
        "first_chunk_cold_s": med(first_cold),
        "first_chunk_warm_s": med(first_warm),
        "stream_cold_s": med(total_cold),
        "stream_warm_s": med(total_warm),
    }
    r["stream_rtf"] = r["stream_warm_s"] / audio_s
    for k in ("first_chunk_cold", "first_chunk_warm", "stream_cold", "stream_warm"):
        r[f"{k}_vs_oneshot"] = r[f"{k}_s"] / one_s
    return r


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", choices=sorted(SIZES), default=None)
    ap.add_argument(
        "--dir", type=Path, default=None, help="a real token2wav folder (or checkpoint dir)"
    )
    ap.add_argument("--tokens", type=int, nargs="+", default=[250])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    size = args.size or ("full" if device.type == "cuda" else "small")
    with tempfile.TemporaryDirectory() as tmp:
        if args.dir is not None:
            path, label = args.dir, str(args.dir)
        else:
            path, label = (
                write_tiny_token2wav(Path(tmp) / "token2wav", SIZES[size]),
                f"{size} (random)",
            )
        t2w = Token2Wav.from_pretrained(path, device=device)
        rng = np.random.default_rng(0)
        rows = []
        for n in args.tokens:
            tokens = [int(t) for t in rng.integers(0, 6561, n)]
            rows.append(
                {
                    "config": label,
                    "device": str(device),
                    "tokens": n,
                    **measure(t2w, tokens, args.repeats),
                }
            )
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    head = (
        f"{'config':<16} {'device':<6} {'tokens':>6} {'audio s':>7} | {'one-shot s':>10} | "
        f"{'1st cold s':>10} {'/1-shot':>7} | {'1st warm s':>10} {'/1-shot':>7} | "
        f"{'stream s':>8} {'/1-shot':>7} | {'cold strm s':>11} {'/1-shot':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['config']:<16} {r['device']:<6} {r['tokens']:>6} {r['audio_s']:>7.1f} | "
            f"{r['oneshot_s']:>10.3f} | "
            f"{r['first_chunk_cold_s']:>10.3f} {r['first_chunk_cold_vs_oneshot']:>7.2f} | "
            f"{r['first_chunk_warm_s']:>10.3f} {r['first_chunk_warm_vs_oneshot']:>7.2f} | "
            f"{r['stream_warm_s']:>8.3f} {r['stream_warm_vs_oneshot']:>7.2f} | "
            f"{r['stream_cold_s']:>11.3f} {r['stream_cold_vs_oneshot']:>7.2f}"
        )
    print(
        "1st = first streamed piece; cold = voice not primed yet (front-end features cached), "
        "warm = primed state reused;\nstream s = whole stream in a warm voice; "
        "/1-shot = ratio to one-shot synthesis of the same tokens"
    )


if __name__ == "__main__":
    main()
