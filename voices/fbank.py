"""Kaldi-compatible log mel filterbank in numpy (the features CAM++ was trained on).

Follows the definition of Kaldi's `compute-fbank-feats` defaults (as also documented for
torchaudio.compliance.kaldi.fbank): 25 ms frames, 10 ms shift, snip_edges, DC removal,
pre-emphasis 0.97, povey window, FFT padded to a power of two, power spectrum, triangular
filters on the mel scale 1127*ln(1+f/700) from 20 Hz to Nyquist, natural log floored at eps.
No dither.
"""

from __future__ import annotations

import numpy as np

_EPS = np.finfo(np.float32).eps


def _mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_banks(
    num_bins: int, nfft: int, sr: int, low: float = 20.0, high: float = 0.0
) -> np.ndarray:
    """(num_bins, nfft//2) weights; the Nyquist bin gets no weight, as in Kaldi."""
    nyq = 0.5 * sr
    if high <= 0:
        high += nyq
    mlow, mhigh = _mel(low), _mel(high)
    delta = (mhigh - mlow) / (num_bins + 1)
    freqs = np.arange(nfft // 2) * sr / nfft
    m = _mel(freqs)
    left = mlow + np.arange(num_bins)[:, None] * delta
    center = left + delta
    right = center + delta
    up = (m[None, :] - left) / (center - left)
    down = (right - m[None, :]) / (right - center)
    return np.maximum(0.0, np.minimum(up, down))


def kaldi_fbank(
    y: np.ndarray,
    sr: int = 16000,
    num_mel_bins: int = 80,
    frame_ms: float = 25.0,
    shift_ms: float = 10.0,
    preemph: float = 0.97,
) -> np.ndarray:
    """(T, num_mel_bins) float32 log filterbank energies."""
    y = np.asarray(y, dtype=np.float64)
    flen = int(sr * frame_ms / 1000)
    fshift = int(sr * shift_ms / 1000)
    if len(y) < flen:
        return np.zeros((0, num_mel_bins), dtype=np.float32)
    n = 1 + (len(y) - flen) // fshift
    idx = np.arange(flen)[None, :] + fshift * np.arange(n)[:, None]
    frames = y[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)
    prev = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames = frames - preemph * prev
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(flen) / (flen - 1))) ** 0.85
    frames = frames * win
    nfft = 1 << int(np.ceil(np.log2(flen)))
    spec = np.abs(np.fft.rfft(frames, nfft)) ** 2
    banks = mel_banks(num_mel_bins, nfft, sr)
    energies = spec[:, : nfft // 2] @ banks.T
    return np.log(np.maximum(energies, _EPS)).astype(np.float32)
