"""Audio front end of Step-Audio 2: 16 kHz mono -> 25 s chunks -> 128-bin log-mel -> patches.

Per chunk (as the public `stepaudio2.py` / `utils.log_mel_spectrogram` and vLLM's
`Step1fProcessor` do it; read for facts): pad 479 zero samples on the right, STFT with
n_fft 400, hop 160, periodic Hann window, centred (reflect padding), drop the last
frame, power spectrum, 128 Slaney mel filters (librosa, 0..8 kHz), log10 of max(., 1e-10),
clamp to max - 8, then (x + 4) / 4. This is Whisper's log-mel, so it is tested against
`transformers.WhisperFeatureExtractor(feature_size=128)` on the same padded samples.

A mel of T frames (T counts the frames the 479-sample padding adds) becomes
`patch_count(T)` `<audio_patch>` embeddings: encoder (conv s2 + avg-pool 2) then adaptor
(conv k3 s2 p1), with the encoder told T - 2 valid frames, as the public code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from core import audio as core_audio

SAMPLE_RATE = 16000
CHUNK_SECONDS = 25
CHUNK_SAMPLES = SAMPLE_RATE * CHUNK_SECONDS
N_FFT = 400
HOP = 160
PADDING = 479
N_MELS = 128


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=n_mels)).float()


def log_mel(
    samples: np.ndarray | torch.Tensor, n_mels: int = N_MELS, padding: int = PADDING
) -> torch.Tensor:
    """float samples at 16 kHz -> [n_mels, T] log-mel (Whisper scaling)."""
    x = torch.as_tensor(np.asarray(samples, dtype=np.float32)).flatten()
    if padding > 0:
        x = torch.nn.functional.pad(x, (0, padding))
    window = torch.hann_window(N_FFT)
    stft = torch.stft(x, N_FFT, HOP, window=window, return_complex=True)
    power = stft[..., :-1].abs() ** 2
    mel = mel_filters(n_mels) @ power
    logm = torch.clamp(mel, min=1e-10).log10()
    logm = torch.maximum(logm, logm.max() - 8.0)
    return (logm + 4.0) / 4.0


def patch_count(mel_frames: int, adapter_stride: int = 2, kernel_size: int = 3) -> int:
    """Number of <audio_patch> tokens for a mel of `mel_frames` frames (padding included)."""
    enc = (mel_frames - 2 + 1) // 2 // 2
    return (enc + 2 * 1 - kernel_size) // adapter_stride + 1


@dataclass
class AudioChunkFeatures:
    mel: torch.Tensor  # [n_mels, T]
    n_patches: int

    @property
    def valid_frames(self) -> int:
        return self.mel.shape[-1] - 2


def audio_features(samples: np.ndarray, n_mels: int = N_MELS) -> list[AudioChunkFeatures]:
    """Cut 16 kHz samples into <= 25 s chunks and compute each chunk's mel and patch count."""
    samples = np.asarray(samples, dtype=np.float32).flatten()
    if samples.size == 0:
        raise ValueError("audio is empty")
    out = []
    for start in range(0, samples.size, CHUNK_SAMPLES):
        chunk = samples[start : start + CHUNK_SAMPLES]
        mel = log_mel(chunk, n_mels)
        out.append(AudioChunkFeatures(mel=mel, n_patches=patch_count(mel.shape[-1])))
    return out


def batch_mels(chunks: list[AudioChunkFeatures]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack chunk mels (zero-padded on the right) -> [B, n_mels, T_max], valid lengths [B]."""
    t_max = max(c.mel.shape[-1] for c in chunks)
    mels = torch.zeros(len(chunks), chunks[0].mel.shape[0], t_max)
    for i, c in enumerate(chunks):
        mels[i, :, : c.mel.shape[-1]] = c.mel
    lens = torch.tensor([c.valid_frames for c in chunks], dtype=torch.long)
    return mels, lens


def load_wav_16k(path: str | Path) -> np.ndarray:
    """Read an audio file as 16 kHz mono float32 (resampling when needed)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: audio file not found")
    try:
        samples, _ = core_audio.load(p, SAMPLE_RATE)
    except core_audio.AudioDecodeError as e:
        raise ValueError(f"{p}: cannot read audio ({e.reason})") from e
    return samples
