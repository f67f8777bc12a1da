"""Automatic attributes of a voice clip: level, clipping, SNR, silence, F0, speaking rate,
an estimated gender, and a quality verdict with reasons.

F0 is estimated with YIN (de Cheveigné & Kawahara, JASA 2002): the cumulative mean normalized
difference function per 10 ms frame, the first dip below the aperiodicity threshold, parabolic
refinement. A frame counts as voiced only when such a dip exists and the frame is within 35 dB
of the loudest one. Gender is read from the median F0 against the textbook boundary between
adult male (about 85-180 Hz) and adult female (about 165-255 Hz) speaking F0, 165 Hz; the
confidence grows with the distance from it in octaves. Nothing here is fit to a data set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voices.audio import ANALYSIS_RATE
from voices.schema import Quality

GENDER_F0_BOUNDARY_HZ = 165.0
# typical speaking F0 by gender (Titze, Principles of Voice Production): used for pitch words
TYPICAL_F0_HZ = {"male": 120.0, "female": 210.0}


def yin_f0(
    y: np.ndarray, sr: int, fmin: float = 65.0, fmax: float = 400.0, threshold: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame F0 (Hz) and voiced flags, 10 ms hop."""
    import librosa
    import scipy.signal as ss

    # remove rumble and hum below the F0 range: they make the difference function fall all the
    # way to the longest lag, which reads as a false ~fmin pitch
    y = ss.sosfiltfilt(ss.butter(4, 0.8 * fmin, btype="highpass", fs=sr, output="sos"), y)
    tau_min = int(sr / fmax)
    tau_max = int(np.ceil(sr / fmin))
    win = tau_max + int(0.02 * sr)  # integration window
    n = win + tau_max
    hop = int(0.01 * sr)
    if len(y) < n:
        return np.zeros(0), np.zeros(0, dtype=bool)
    fr = librosa.util.frame(
        np.ascontiguousarray(y, dtype=np.float64), frame_length=n, hop_length=hop
    ).T
    nfft = 1 << int(np.ceil(np.log2(n + win)))
    corr = np.fft.irfft(np.conj(np.fft.rfft(fr[:, :win], nfft)) * np.fft.rfft(fr, nfft), nfft)
    corr = corr[:, : tau_max + 1]
    cs = np.concatenate([np.zeros((fr.shape[0], 1)), np.cumsum(fr**2, axis=1)], axis=1)
    taus = np.arange(tau_max + 1)
    diff = cs[:, [win]] + (cs[:, taus + win] - cs[:, taus]) - 2.0 * corr
    diff[:, 0] = 0.0
    diff = np.maximum(diff, 0.0)
    cmndf = np.ones_like(diff)
    cmndf[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    seg = cmndf[:, tau_min : tau_max + 1]
    below = seg < threshold
    idx = np.where(below.any(axis=1), below.argmax(axis=1), seg.argmin(axis=1))
    rows = np.arange(len(idx))
    for _ in range(seg.shape[1]):  # walk down to the local minimum of the dip
        nxt = np.minimum(idx + 1, seg.shape[1] - 1)
        move = seg[rows, nxt] < seg[rows, idx]
        if not move.any():
            break
        idx = np.where(move, nxt, idx)
    tau = idx + tau_min
    left = cmndf[rows, np.maximum(tau - 1, 0)]
    mid = cmndf[rows, tau]
    right = cmndf[rows, np.minimum(tau + 1, tau_max)]
    den = left - 2 * mid + right
    off = np.clip(
        np.where(np.abs(den) > 1e-12, 0.5 * (left - right) / np.where(den == 0, 1, den), 0), -1, 1
    )
    f0 = sr / (tau + off)
    rms = np.sqrt(cs[:, -1] / n)
    interior = (idx > 0) & (idx < seg.shape[1] - 1)  # a dip at the search edge is no period
    voiced = below.any(axis=1) & interior & (rms > rms.max() * 10 ** (-35 / 20))
    return f0, voiced


def _frame_db(y: np.ndarray, sr: int, frame_s: float = 0.02) -> np.ndarray:
    frame = max(1, int(frame_s * sr))
    n = len(y) // frame
    if n == 0:
        return np.array([20 * np.log10(np.sqrt(np.mean(y**2)) + 1e-10)])
    rms = np.sqrt(np.mean(y[: n * frame].reshape(n, frame) ** 2, axis=1))
    return 20 * np.log10(rms + 1e-10)


def speaking_rate(y: np.ndarray, sr: int, voiced: np.ndarray) -> float | None:
    """Syllable nuclei per second of speech: peaks of the 300-3000 Hz band envelope in voiced
    stretches, at least 100 ms apart and 3 dB above the surrounding dips (de Jong & Wempe style)."""
    import scipy.signal as ss

    sos = ss.butter(4, [300, 3000], btype="band", fs=sr, output="sos")
    band = ss.sosfiltfilt(sos, y)
    hop = int(0.01 * sr)
    n = len(band) // hop
    if n < 10:
        return None
    env = np.sqrt(np.mean(band[: n * hop].reshape(n, hop) ** 2, axis=1))
    env_db = 20 * np.log10(np.convolve(env, np.ones(5) / 5, mode="same") + 1e-10)
    v = np.zeros(n, dtype=bool)
    m = min(n, len(voiced))
    v[:m] = voiced[:m]
    peaks, _ = ss.find_peaks(env_db, distance=10, prominence=3.0)
    peaks = peaks[v[peaks] & (env_db[peaks] > env_db.max() - 30)]
    speech_s = v.sum() * 0.01
    if speech_s < 0.3:
        return None
    # count speech time generously: voiced frames plus the unvoiced consonants between them
    active = _frame_db(y, sr, 0.01)[:n] > env_db.max() - 35
    return float(len(peaks) / max(speech_s, active.sum() * 0.01))


def estimate_gender(median_f0: float | None) -> tuple[str | None, float]:
    """(gender, confidence 0..1) from the median speaking F0."""
    if not median_f0:
        return None, 0.0
    octaves = np.log2(median_f0 / GENDER_F0_BOUNDARY_HZ)
    conf = float(min(1.0, abs(octaves) / 0.5))
    return ("female" if octaves >= 0 else "male"), round(conf, 3)


def pitch_band(median_f0: float | None, gender: str | None) -> str | None:
    """low | medium | high relative to the typical F0 of the (estimated) gender."""
    if not median_f0:
        return None
    ref = TYPICAL_F0_HZ.get(gender or "", 160.0)
    octv = np.log2(median_f0 / ref)
    return "low" if octv < -0.2 else "high" if octv > 0.2 else "medium"


def pace_band(rate: float | None) -> str | None:
    if rate is None:
        return None
    return "slow" if rate < 3.0 else "fast" if rate > 5.0 else "medium"


def analyze(
    y16: np.ndarray, source_clipping: float = 0.0, sr: int = ANALYSIS_RATE
) -> dict[str, Any]:
    """All automatic attributes of a mono clip at the analysis rate."""
    db = _frame_db(y16, sr)
    peak_db = float(20 * np.log10(np.max(np.abs(y16)) + 1e-10))
    top = float(np.percentile(db, 95))
    floor = float(np.percentile(db, 10))
    active = db > top - 30
    loudness = (
        float(10 * np.log10(np.mean(10 ** (db[active] / 10)) + 1e-12)) if active.any() else top
    )
    snr = top - floor
    silence = float(np.mean(db < max(floor + 6.0, top - 40.0)))
    f0, voiced = yin_f0(y16, sr)
    median_f0 = float(np.median(f0[voiced])) if voiced.sum() >= 10 else None
    rate = speaking_rate(y16, sr, voiced)
    gender, gconf = estimate_gender(median_f0)
    dur = len(y16) / sr

    reasons: list[str] = []
    poor = False
    if dur < 2.0:
        reasons.append(f"short clip ({dur:.1f} s; 3-30 s makes a better voice prompt)")
    if dur > 30.0:
        reasons.append(f"long clip ({dur:.0f} s; prompts use at most 30 s)")
    if source_clipping > 0.01:
        reasons.append(f"heavy clipping ({source_clipping:.1%} of samples at full scale)")
        poor = True
    elif source_clipping > 0.001:
        reasons.append(f"some clipping ({source_clipping:.2%} of samples)")
    if snr < 10:
        reasons.append(f"noisy (SNR about {snr:.0f} dB)")
        poor = True
    elif snr < 20:
        reasons.append(f"audible noise (SNR about {snr:.0f} dB)")
    if silence > 0.6:
        reasons.append(f"mostly silence ({silence:.0%})")
        poor = True
    elif silence > 0.4:
        reasons.append(f"long pauses ({silence:.0%} silence)")
    if median_f0 is None:
        reasons.append("no voiced speech found")
        poor = True
    if loudness < -45:
        reasons.append(f"very quiet source ({loudness:.0f} dBFS)")
    verdict = "poor" if poor else ("fair" if reasons else "good")
    return {
        "duration_s": round(dur, 3),
        "median_f0_hz": round(median_f0, 1) if median_f0 else None,
        "speaking_rate": round(rate, 2) if rate is not None else None,
        "gender": gender,
        "gender_confidence": gconf,
        "pitch": pitch_band(median_f0, gender),
        "pace": pace_band(rate),
        "voiced_ratio": round(float(voiced.mean()), 3) if voiced.size else 0.0,
        "quality": Quality(
            verdict=verdict,
            reasons=reasons,
            loudness_dbfs=round(loudness, 1),
            peak_dbfs=round(peak_db, 1),
            clipping_ratio=round(source_clipping, 5),
            snr_db=round(snr, 1),
            silence_ratio=round(silence, 3),
        ),
    }
