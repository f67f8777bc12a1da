"""Step-Audio 2 generation speed: our KV-cache generator vs plain `transformers` generate().

On a GPU (default when CUDA is present) the full Step-Audio-2-mini configuration is built
with random bf16 weights (about 8B parameters, ~17 GB); on a CPU, or with --tiny, the tiny
test configuration (hidden 64, 2 layers, real 158720 vocabulary) in float32.

Measured, each for ours and for `model.generate()` on the same model and prompt (greedy,
no stop token), reported with the ratio baseline / ours (> 1: ours is faster):
  * prefill for a spoken turn with 3 s and with 25 s of audio (encoder + adaptor + decoder
    over the prompt, up to the first token);
  * decode tokens/s over --decode-tokens new tokens;
  * time to the first 25 audio tokens of a spoken reply: 32 generated tokens, which the
    1 text : 4 audio layout of Step-Audio 2 turns into 25 audio tokens (+7 text);
  * peak memory (GPU: max allocated; CPU: process max RSS).

    python benchmarks/stepaudio2_gpu.py            # full size on cuda if present, else tiny
    python benchmarks/stepaudio2_gpu.py --tiny     # tiny config on the CPU
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import model.stepaudio2  # noqa: E402, F401  (registers step_audio_2)
from model.stepaudio2.audio import audio_features, batch_mels  # noqa: E402
from model.stepaudio2.configuration import StepAudio2Config  # noqa: E402
from model.stepaudio2.generation import GenerationRequest, SamplingParams, StepAudio2Generator  # noqa: E402
from model.stepaudio2.modeling import StepAudio2ForCausalLM  # noqa: E402
from model.stepaudio2.tiny import tiny_config  # noqa: E402
from model.stepaudio2.tokens import OFFICIAL_IDS  # noqa: E402

BOT, EOT = OFFICIAL_IDS["<|BOT|>"], OFFICIAL_IDS["<|EOT|>"]
A_START, A_END, PATCH = (
    OFFICIAL_IDS["<audio_start>"],
    OFFICIAL_IDS["<audio_end>"],
    OFFICIAL_IDS["<audio_patch>"],
)
TTS_START = OFFICIAL_IDS["<tts_start>"]


def build_model(full: bool, device: torch.device) -> StepAudio2ForCausalLM:
    torch.manual_seed(0)
    if full:
        cfg = StepAudio2Config()  # Step-Audio-2-mini shapes
        prev = torch.get_default_dtype()
        torch.set_default_dtype(torch.bfloat16)
        with torch.device(device):
            m = StepAudio2ForCausalLM(cfg)
        torch.set_default_dtype(prev)
    else:
        m = StepAudio2ForCausalLM(tiny_config()).to(device)
    return m.eval()


def spoken_prompt(seconds: float) -> GenerationRequest:
    """system + human audio turn + `<|BOT|>assistant\\n<tts_start>`, ids in the official layout."""
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    x = (0.3 * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    chunks = audio_features(x)
    ids = [BOT, *range(1000, 1010), EOT, BOT, *range(2000, 2003)]
    for c in chunks:
        ids += [A_START, *[PATCH] * c.n_patches, A_END]
    ids += [EOT, BOT, 3000, 3001, TTS_START]
    return GenerationRequest(input_ids=ids, audio=chunks)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ours(gen: StepAudio2Generator, req: GenerationRequest, n: int) -> tuple[float, float]:
    """(prefill seconds, seconds for n tokens incl. prefill)."""
    params = SamplingParams(max_new_tokens=n, temperature=0, repetition_penalty=1.0)
    sync(gen.device)
    t0 = time.perf_counter()
    res = gen.generate([req], params)[0]
    sync(gen.device)
    return res.prefill_s, time.perf_counter() - t0


def baseline(
    m: StepAudio2ForCausalLM, req: GenerationRequest, n: int, device: torch.device
) -> float:
    ids = torch.tensor([req.input_ids], device=device)
    wavs, lens = batch_mels(req.audio)
    sync(device)
    t0 = time.perf_counter()
    m.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), wavs=wavs.to(device), wav_lens=lens.to(device),
        max_new_tokens=n, min_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0,
    )  # fmt: skip
    sync(device)
    return time.perf_counter() - t0


def paired(f_ours, f_base, repeats: int, best=min) -> tuple[float, float]:
    """Alternate ours / baseline runs; keep the best of each (robust to a busy machine)."""
    a, b = [], []
    for _ in range(repeats):
        a.append(f_ours())
        b.append(f_base())
    return best(a), best(b)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tiny", action="store_true", help="tiny config even when a GPU is present")
    ap.add_argument("--device", default=None, help="cuda / cpu (default: cuda if available)")
    ap.add_argument(
        "--decode-tokens",
        type=int,
        default=None,
        help="tokens for the decode rate (default 256 GPU, 48 CPU)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    full = device.type == "cuda" and not args.tiny
    n_dec = args.decode_tokens or (256 if full else 48)
    m = build_model(full, device)
    gen = StepAudio2Generator(m, pad_token_id=0)
    n_params = sum(p.numel() for p in m.parameters())
    print(f"# Step-Audio 2 generation benchmark: {'full Step-Audio-2-mini config, bf16' if full else 'tiny config, fp32'}, "
          f"{n_params / 1e6:.1f}M parameters, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))  # fmt: skip

    p3, p25 = spoken_prompt(3.0), spoken_prompt(25.0)
    ours(gen, p3, 2)  # warm-up
    baseline(m, p3, 2, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    rows = []
    for name, req in (("prefill 3 s audio (s)", p3), ("prefill 25 s audio (s)", p25)):
        a, b = paired(
            lambda req=req: ours(gen, req, 1)[1],
            lambda req=req: baseline(m, req, 1, device),
            args.repeats,
        )
        rows.append((name, a, b, b / a, f"prompt {len(req.input_ids)} tokens"))

    def decode_rate(fn) -> float:
        return n_dec / max(1e-9, fn(n_dec + 1) - fn(1))

    a, b = paired(
        lambda: decode_rate(lambda n: ours(gen, p3, n)[1]),
        lambda: decode_rate(lambda n: baseline(m, p3, n, device)),
        args.repeats,
        best=max,
    )
    rows.append(("decode (tokens/s)", a, b, a / b, f"{n_dec} new tokens after a 3 s prompt"))

    a, b = paired(lambda: ours(gen, p3, 32)[1], lambda: baseline(m, p3, 32, device), args.repeats)
    rows.append(("first 25 audio tokens (s)", a, b, b / a, "32 tokens = 25 audio + 7 text (1:4)"))

    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        rows.append(("peak GPU memory (GiB)", peak, peak, 1.0, "one model, both generators"))
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        rows.append(("peak process RSS (GiB)", peak, peak, 1.0, "one process, both generators"))

    print()
    print(f"| {'metric':28} | {'ours':>10} | {'transformers generate()':>23} | {'ratio':>6} | note")
    print(f"|{'-' * 30}|{'-' * 12}|{'-' * 25}|{'-' * 8}|------")
    for name, a, b, r, note in rows:
        print(f"| {name:28} | {a:10.4f} | {b:23.4f} | {r:6.2f} | {note}")
    print(
        f"\nbest of {args.repeats} alternating runs; prefill = time to the first token; "
        "ratio: baseline / ours for times, ours / baseline for rates (> 1 means ours is faster)"
    )


if __name__ == "__main__":
    main()
