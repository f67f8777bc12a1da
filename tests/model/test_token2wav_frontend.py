"""token2wav prompt front end: ONNX signatures, features, per-voice cache."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf

from model.token2wav import PromptFrontend, default_prompt_path, write_tiny_token2wav
from model.token2wav.features import kaldi_fbank, prompt_mel, resample, whisper_log_mel
from model.voice_prompt import load_prompt


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_token2wav(tmp_path_factory.mktemp("t2w") / "token2wav")


@pytest.fixture(scope="module")
def prompt16k():
    a, sr = load_prompt(default_prompt_path())
    return resample(a, sr, 16000)


def test_default_prompt_is_small_speech():
    p = default_prompt_path()
    assert p.is_file() and p.stat().st_size < 1_000_000
    info = sf.info(str(p))
    assert 2.0 <= info.duration <= 8.0 and info.channels == 1


def test_onnx_signatures(tiny):
    tok = ort.InferenceSession(str(tiny / "speech_tokenizer_v2_25hz.onnx"))
    ins = {i.name: (i.type, i.shape) for i in tok.get_inputs()}
    assert ins["feats"][0] == "tensor(float)" and ins["feats"][1][:2] == [1, 128]
    assert ins["feats_length"] == ("tensor(int32)", [1])
    out = tok.get_outputs()[0]
    assert out.name == "indices" and out.type == "tensor(int64)"
    cam = ort.InferenceSession(str(tiny / "campplus.onnx"))
    i = cam.get_inputs()[0]
    assert i.type == "tensor(float)" and i.shape[0] == 1 and i.shape[2] == 80
    o = cam.get_outputs()[0]
    assert o.shape == [1, 192]


def test_feature_shapes(prompt16k):
    m = whisper_log_mel(prompt16k)
    assert m.shape == (128, len(prompt16k) // 160)
    assert float(m.max()) <= 1.5 + 1e-6 and float(m.max() - m.min()) <= 2.0 + 1e-6
    fb = kaldi_fbank(prompt16k)
    assert fb.shape == (1 + (len(prompt16k) - 400) // 160, 80)
    a24 = resample(prompt16k, 16000, 24000)
    pm = prompt_mel(a24)
    assert pm.shape == (len(a24) // 480, 80)


def test_kaldi_fbank_matches_kaldi_native_fbank(prompt16k):
    knf = pytest.importorskip("kaldi_native_fbank")
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, prompt16k.tolist())
    fb.input_finished()
    ref = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])
    ours = kaldi_fbank(prompt16k).numpy()
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-2


def test_prompt_features_and_cache(tiny, tmp_path):
    fe = PromptFrontend(tiny)
    p = fe.prepare(default_prompt_path(), "default")
    n = p.tokens.shape[1]
    assert n > 0 and int(p.tokens.min()) >= 0 and int(p.tokens.max()) <= 6560
    seconds = sf.info(str(default_prompt_path())).duration
    assert abs(n - seconds * 25) <= 2
    assert p.mel.shape == (1, 2 * n, 80)
    assert p.embedding.shape == (1, 192)
    assert fe.preparations == 1
    assert fe.prepare(default_prompt_path(), "default") is p  # a repeat costs nothing
    assert fe.preparations == 1
    fe.prepare(default_prompt_path(), "other-id")  # another voice id: prepared once
    assert fe.preparations == 2
    # same id, different content (an edited recording) -> prepared again
    a, sr = sf.read(str(default_prompt_path()), dtype="float32")
    edited = tmp_path / "edited.wav"
    sf.write(str(edited), a[: len(a) // 2], sr)
    q = fe.prepare(edited, "default")
    assert fe.preparations == 3 and q.tokens.shape[1] < n
    assert not np.allclose(q.embedding.numpy(), p.embedding.numpy())


def test_bad_prompt_is_named(tiny, tmp_path):
    fe = PromptFrontend(tiny)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    with pytest.raises(ValueError, match="bad.wav"):
        fe.prepare(bad)
    with pytest.raises(ValueError, match="missing.wav: file not found"):
        fe.prepare(tmp_path / "missing.wav")
