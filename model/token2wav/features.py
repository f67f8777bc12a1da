"""Audio features of the voice-prompt front end, in numpy/torch (no torchaudio).

- `whisper_log_mel`: the S3 tokenizer's input, Whisper's 128-bin log-mel at 16 kHz
  (n_fft 400, hop 160, periodic Hann, power spectrum without the last frame, Slaney
  mel bank, log10 floored at 1e-10, clamped to max-8, then (x + 4) / 4) — as the
  CosyVoice front end (`whisper.log_mel_spectrogram(speech, n_mels=128)`) computes it.
- `kaldi_fbank`: the CAM++ input, Kaldi's 80-bin log filterbank as computed by
  `torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=80, dither=0,
  sample_frequency=16000)` with its defaults: 25 ms frames every 10 ms (snip edges),
  per-frame DC removal, pre-emphasis 0.97, Povey window (Hann^0.85), FFT size 512,
  power spectrum, triangular filters on the mel scale 1127 ln(1 + f/700) from 20 Hz to
  Nyquist, natural log floored at float32 eps. The front end subtracts the mean over
  time (CosyVoice `_extract_spk_embedding`).
- `prompt_mel`: the flow's 80-bin 24 kHz mel (CosyVoice/Matcha `mel_spectrogram`:
  n_fft 1920, hop 480, Hann, reflect padding of (n_fft - hop) / 2 on both sides,
  no centering, magnitude sqrt(re^2 + im^2 + 1e-9), Slaney mel bank 0-8000 Hz,
  natural log floored at 1e-5).
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import torch

from core import audio as core_audio


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """The project's resampler (`core.audio.resample`, soxr HQ)."""
    return core_audio.resample(audio, sr_in, sr_out)


@lru_cache(maxsize=4)
def _slaney_mel(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> torch.Tensor:
    return torch.from_numpy(
        librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    ).float()


def whisper_log_mel(audio16k: np.ndarray, n_mels: int = 128) -> torch.Tensor:
    """(n_mels, frames) float32; frames = len // 160."""
    x = torch.from_numpy(np.ascontiguousarray(audio16k, dtype=np.float32))
    spec = torch.stft(x, 400, 160, window=torch.hann_window(400), return_complex=True)
    power = spec[..., :-1].abs() ** 2
    mel = _slaney_mel(16000, 400, n_mels, 0.0, None) @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


@lru_cache(maxsize=2)
def _kaldi_mel_banks(num_bins: int, n_fft: int, sr: float, low: float, high: float) -> torch.Tensor:
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    nyquist = 0.5 * sr
    if high <= 0.0:
        high = nyquist + high
    n_bins = n_fft // 2
    bin_width = sr / n_fft
    mel_low, mel_high = mel(low), mel(high)
    delta = (mel_high - mel_low) / (num_bins + 1)
    i = np.arange(num_bins)[:, None]
    left = mel_low + i * delta
    center = mel_low + (i + 1.0) * delta
    right = mel_low + (i + 2.0) * delta
    m = mel(bin_width * np.arange(n_bins))[None, :]
    up = (m - left) / (center - left)
    down = (right - m) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    banks = np.pad(banks, ((0, 0), (0, 1)))  # the Nyquist bin has no weight
    return torch.from_numpy(banks.astype(np.float32))


def kaldi_fbank(
    audio16k: np.ndarray, num_mel_bins: int = 80, sample_rate: int = 16000
) -> torch.Tensor:
    """(frames, num_mel_bins) Kaldi log filterbank (torchaudio `kaldi.fbank` defaults)."""
    x = torch.from_numpy(np.ascontiguousarray(audio16k, dtype=np.float32))
    win = int(sample_rate * 0.025)
    shift = int(sample_rate * 0.010)
    if x.numel() < win:
        return torch.zeros(0, num_mel_bins)
    n_frames = 1 + (x.numel() - win) // shift
    frames = x.as_strided((n_frames, win), (shift, 1)).clone()
    frames = frames - frames.mean(dim=1, keepdim=True)
    prev = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - 0.97 * prev
    window = torch.hann_window(win, periodic=False).pow(0.85)
    frames = frames * window
    n_fft = 1 << (win - 1).bit_length()
    frames = torch.nn.functional.pad(frames, (0, n_fft - win))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    banks = _kaldi_mel_banks(num_mel_bins, n_fft, float(sample_rate), 20.0, 0.0)
    energies = power @ banks.T
    return torch.clamp(energies, min=torch.finfo(torch.float32).eps).log()


def prompt_mel(audio24k: np.ndarray) -> torch.Tensor:
    """(frames, 80) log-mel at 50 Hz; frames = len // 480."""
    n_fft, hop = 1920, 480
    x = torch.from_numpy(np.ascontiguousarray(audio24k, dtype=np.float32))[None, None]
    pad = (n_fft - hop) // 2
    x = torch.nn.functional.pad(x, (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(
        x, n_fft, hop, n_fft, window=torch.hann_window(n_fft), center=False, return_complex=True
    )
    spec = torch.view_as_real(spec)
    mag = torch.sqrt(spec.pow(2).sum(-1) + 1e-9)
    mel = _slaney_mel(24000, n_fft, 80, 0.0, 8000.0) @ mag
    return torch.log(torch.clamp(mel, min=1e-5))[0].T.contiguous()
