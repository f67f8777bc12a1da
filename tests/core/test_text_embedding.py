"""core.text_embedding: one MiniLM per process, shared by model, retrieval and voices."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core import text_embedding as te


def test_default_names_resolve_to_the_offline_package():
    path = te.default_model_path()
    for name in (None, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", path):
        assert te.resolve_model_path(name) == path
        assert te.get_text_embedder(name) is te.get_text_embedder()
    assert te.resolve_model_path("/some/other/model") == "/some/other/model"


def test_concurrent_first_use_loads_one_model():
    """Runs before any other test here loads the model: six threads race for the first load."""
    results: list[tuple[object, object]] = []
    barrier = threading.Barrier(6)

    def worker():
        barrier.wait()
        e = te.get_text_embedder("sentence-transformers/all-MiniLM-L6-v2")
        results.append((e, e.model))
        e.encode([f"thread text {threading.get_ident() % 7}"])

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({id(e) for e, _ in results}) == 1 and len({id(m) for _, m in results}) == 1


def test_encode_is_normalised_float32_and_semantic():
    emb = te.get_text_embedder()
    v = emb.encode(["what time is it in Tokyo", "tell me the time in London", "bake a cake"])
    assert v.shape == (3, emb.dim) and emb.dim == 384 and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    assert emb.encode([]).shape == (0, 384)


def test_model_retrieval_and_voices_share_one_embedder_and_one_model(tmp_path):
    from model.embedded.embed import TextEmbedder as ModelTextEmbedder
    from model.embedded.router import Router
    from retrieval import CorpusStore
    from voices import VoiceLibrary

    shared = te.get_text_embedder()
    router = Router()
    store = CorpusStore(tmp_path / "corpora")
    lib = VoiceLibrary(tmp_path / "voices")
    try:
        assert ModelTextEmbedder is te.TextEmbedder  # the old public name is the one class
        assert router.embedder is shared
        assert store.embedder is shared
        assert lib.text_embedder is shared
        texts = ["a calm low male voice", "what's the weather in Paris"]
        a = router.embedder.encode(texts)
        b = store.embedder.encode(texts)
        c = lib.text_embedder.encode(texts)
        assert np.array_equal(a, b) and np.array_equal(b, c)
        # a separately constructed embedder still loads no second model and agrees
        other = te.TextEmbedder("all-MiniLM-L6-v2")
        assert other.model is shared.model is te.load_sentence_transformer()
        assert np.allclose(other.encode(texts), a, atol=1e-6)
        minilm = [k for k in te._MODELS if k[0] == "bi" and k[1] == te.default_model_path()]
        assert minilm == [("bi", te.default_model_path(), "cpu")]
    finally:
        store.close()
        lib.close()


def test_cache_is_bounded_and_optional():
    emb = te.TextEmbedder(cache_size=2)
    texts = ["one", "two", "three"]
    cached = emb.encode(texts)
    assert len(emb._cache) == 2 and list(emb._cache) == ["two", "three"]  # least recent dropped
    plain = emb.encode(texts, cache=False)
    assert np.allclose(cached, plain, atol=1e-6)
    again = emb.encode(["three", "three"])
    assert np.array_equal(again[0], cached[2]) and np.array_equal(again[1], cached[2])
    again[0] += 1.0  # callers get copies: the cache is not changed through a result
    assert np.array_equal(emb.encode(["three"])[0], cached[2])
    fresh = te.TextEmbedder(cache_size=4)
    fresh.encode(["x", "y"], cache=False)
    assert len(fresh._cache) == 0


def test_unloadable_model_is_a_clear_error(tmp_path):
    emb = te.get_text_embedder(str(tmp_path / "no-such-model"))
    with pytest.raises(ValueError, match="embedding model .*no-such-model.*cannot load"):
        emb.encode(["hello"])
    with pytest.raises(ValueError, match="rerank model .*cannot load"):
        te.load_cross_encoder(str(tmp_path / "no-such-reranker"))
