"""Automatic attributes on generated signals with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.voices.conftest import tone
from voices.attributes import analyze, estimate_gender, yin_f0
from voices.audio import load_audio
from voices.fbank import kaldi_fbank


@pytest.mark.parametrize("f0", [90.0, 120.0, 180.0, 240.0, 320.0])
def test_yin_recovers_f0(tmp_path, f0):
    y, sr, _ = load_audio(tone(tmp_path / "t.wav", f0))
    est, voiced = yin_f0(y, sr)
    assert voiced.mean() > 0.3
    assert abs(np.median(est[voiced]) - f0) / f0 < 0.02


def test_gender_from_f0():
    assert estimate_gender(110.0)[0] == "male"
    assert estimate_gender(220.0)[0] == "female"
    assert estimate_gender(None) == (None, 0.0)
    assert estimate_gender(220.0)[1] > estimate_gender(170.0)[1]


def test_clean_vs_noisy_vs_clipped(tmp_path):
    y, sr, clip = load_audio(tone(tmp_path / "clean.wav", 200.0, seconds=4))
    clean = analyze(y, clip)
    assert clean["gender"] == "female" and clean["median_f0_hz"] == pytest.approx(200, rel=0.02)
    assert clean["quality"].snr_db > 30 and clean["quality"].clipping_ratio == 0
    y, sr, clip = load_audio(tone(tmp_path / "noisy.wav", 110.0, seconds=4, noise=0.2))
    noisy = analyze(y, clip)
    assert noisy["quality"].snr_db < clean["quality"].snr_db - 15
    assert noisy["quality"].verdict in {"fair", "poor"} and any(
        "nois" in r for r in noisy["quality"].reasons
    )
    y, sr, clip = load_audio(tone(tmp_path / "clip.wav", 150.0, seconds=4, gain=3.0))
    clipped = analyze(y, clip)
    assert clipped["quality"].clipping_ratio > 0.01 and clipped["quality"].verdict == "poor"


def test_speaking_rate_on_real_speech(libri_files):
    y, sr, clip = load_audio(libri_files[0])
    a = analyze(y, clip)
    assert 1.5 < a["speaking_rate"] < 7.0  # read English: roughly 3-5 syllables per second


def test_short_and_silent_clips_are_rejected(tmp_path):
    import soundfile as sf

    from voices.audio import AudioError

    sf.write(tmp_path / "short.wav", np.zeros(1000, np.float32) + 0.1, 16000)
    with pytest.raises(AudioError, match="too short"):
        load_audio(tmp_path / "short.wav")
    sf.write(tmp_path / "silent.wav", np.zeros(32000, np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        load_audio(tmp_path / "silent.wav")


def test_kaldi_fbank_shape_and_peak():
    sr = 16000
    t = np.arange(sr) / sr
    feat = kaldi_fbank(0.5 * np.sin(2 * np.pi * 1000 * t), sr)
    assert feat.shape == (1 + (sr - 400) // 160, 80) and np.isfinite(feat).all()
    # 1 kHz lands in the mel bin whose centre is nearest 1 kHz
    mel = lambda f: 1127 * np.log(1 + f / 700)  # noqa: E731
    lo, hi = mel(20), mel(8000)
    centres = lo + (np.arange(80) + 1) * (hi - lo) / 81
    assert abs(int(feat.mean(0).argmax()) - int(np.abs(centres - mel(1000)).argmin())) <= 1
