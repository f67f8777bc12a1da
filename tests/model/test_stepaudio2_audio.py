"""Audio front end: Whisper log-mel parity, chunking, patch counts against the real encoder."""

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

import model.stepaudio2  # noqa: F401  (registers step_audio_2)
from model.stepaudio2.audio import (
    PADDING,
    audio_features,
    batch_mels,
    load_wav_16k,
    log_mel,
    patch_count,
)
from model.stepaudio2.modeling import StepAudio2ForCausalLM
from model.stepaudio2.tiny import tiny_config


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("seconds", [0.5, 3.0, 7.3])
def test_log_mel_matches_whisper_feature_extractor(seconds):
    x = _speechlike(seconds)
    ours = log_mel(x).numpy()
    fe = WhisperFeatureExtractor(feature_size=128)
    ref = fe(np.pad(x, (0, PADDING)), sampling_rate=16000, padding="longest", return_tensors="np")
    ref = ref["input_features"][0]
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-4


def test_chunks_of_25_seconds_and_patch_counts():
    feats = audio_features(_speechlike(26.0))
    assert len(feats) == 2
    assert feats[0].mel.shape == (128, 2502)  # (400000 + 479) // 160 frames
    assert feats[0].n_patches == patch_count(2502) == 313
    assert feats[1].n_patches == patch_count(feats[1].mel.shape[-1])
    assert patch_count(302) == 38  # 3 s -> 12.5 Hz


def test_patch_count_equals_encoder_output_length():
    torch.manual_seed(0)
    m = StepAudio2ForCausalLM(tiny_config()).eval()
    chunks = audio_features(_speechlike(3.0)) + audio_features(_speechlike(1.37, seed=1))
    mels, lens = batch_mels(chunks)
    with torch.no_grad():
        patches = m.encode_audio(mels, lens)
    assert [p.shape[0] for p in patches] == [c.n_patches for c in chunks]
    # batching barely changes a chunk's features (padding is masked; the public code picks
    # the mask's frame parity from the batch length, hence not bit-identical)
    with torch.no_grad():
        alone = m.encode_audio(*batch_mels(chunks[1:]))[0]
    assert alone.shape == patches[1].shape
    assert (alone - patches[1]).abs().max() < 1e-3


def test_bad_audio_inputs(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        audio_features(np.zeros(0))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_wav_16k(tmp_path / "nope.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    with pytest.raises(ValueError, match="cannot read audio"):
        load_wav_16k(bad)
