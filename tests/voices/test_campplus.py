"""CAM++ speaker embedder through the real onnxruntime path: a tiny random-weight model with the
campplus.onnx interface (fbank (1, T, 80) -> (1, 192)) saved in a token2wav folder."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from voices import VoiceLibrary  # noqa: E402
from voices.embedders import CampPlusEmbedder  # noqa: E402


def tiny_campplus(path, dim: int = 192) -> None:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((80, 64)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((64, dim)).astype(np.float32), "w2")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("MatMul", ["input", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("ReduceMean", ["r", "axes"], ["m"], keepdims=0),
        helper.make_node("MatMul", ["m", "w2"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "campplus_tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "T", 80])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, dim])],
        [w1, w2, axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_campplus_library(tmp_path, small_clips):
    t2w = tmp_path / "token2wav"
    t2w.mkdir()
    tiny_campplus(t2w / "campplus.onnx")
    emb = CampPlusEmbedder(t2w / "campplus.onnx")
    import soundfile as sf

    y, _ = sf.read(small_clips[0], dtype="float32")
    v = emb.embed(y)
    assert v.shape == (192,) and abs(np.linalg.norm(v) - 1) < 1e-5 and emb.dim == 192

    lib = VoiceLibrary(tmp_path / "lib", token2wav_dir=t2w)
    assert lib.speaker_space == "speaker:campplus"
    for c in small_clips[:3]:
        lib.add(c)
    hits = lib.search(audio=[small_clips[2]], top_k=1)
    assert hits[0].name == small_clips[2].stem and hits[0].score == pytest.approx(1.0, abs=1e-4)
    lib.close()
    # the speaker model is a property of the library: reopened without a folder it stays CAM++
    with pytest.raises(ValueError, match="token2wav"):
        VoiceLibrary(tmp_path / "lib").search(audio=[small_clips[0]])


def test_switching_speaker_model_recomputes_from_stored_audio(tmp_path, small_clips):
    t2w = tmp_path / "token2wav"
    t2w.mkdir()
    tiny_campplus(t2w / "campplus.onnx")
    with VoiceLibrary(tmp_path / "lib") as lib:  # resemblyzer by default
        for c in small_clips[:2]:
            lib.add(c)
    with VoiceLibrary(tmp_path / "lib", speaker_embedder="campplus", token2wav_dir=t2w) as lib:
        assert lib.speaker_space == "speaker:campplus"
        hits = lib.search(audio=[small_clips[1]], top_k=2)
        assert [h.name for h in hits][0] == small_clips[1].stem and len(hits) == 2
        assert lib.store.missing_embeddings("speaker:campplus") == []
