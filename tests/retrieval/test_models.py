"""Any sentence-transformers model by path, and the optional cross-encoder rerank.

The models are tiny random-weight BERTs saved and loaded through the real
sentence-transformers loading path (tokenizer borrowed from the offline MiniLM).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import CorpusStore


def _tiny_bert(dirpath: Path, classifier: bool) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    from retrieval.embedding import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path(None))
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        num_labels=1,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg) if classifier else BertModel(cfg)
    model.save_pretrained(dirpath)
    tok.save_pretrained(dirpath)
    return dirpath


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory) -> Path:
    from sentence_transformers import SentenceTransformer, models

    base = tmp_path_factory.mktemp("tinybert")
    hf = _tiny_bert(base / "hf", classifier=False)
    word = models.Transformer(str(hf), max_seq_length=128)
    dim_of = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = models.Pooling(dim_of(), pooling_mode="mean")
    out = base / "st"
    SentenceTransformer(modules=[word, pool], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory) -> Path:
    return _tiny_bert(tmp_path_factory.mktemp("tinyce") / "ce", classifier=True)


def test_embedder_by_path_persists_and_guards(
    tmp_path: Path, docs_dir: Path, tiny_embedder: Path
) -> None:
    root = tmp_path / "c"
    store = CorpusStore(root, embedder=str(tiny_embedder))
    rep = store.add([docs_dir])
    assert len(rep.added) == 5
    assert store.embedder.dim == 32
    # BM25 still carries exact keywords even with a random-weight dense model
    assert "otter-basket-77" in store.search("cabin wifi password", 3, mode="bm25")[0].text
    hits = store.search("cabin wifi password", 3)
    assert len(hits) == 3 and all(-1.0 <= p.relevance <= 1.0 for p in hits)
    # reopening without naming a model uses the one the index was built with
    again = CorpusStore(root)
    assert again.embedder_name == str(tiny_embedder)
    assert len(again.search("lighthouse", 2)) == 2
    with pytest.raises(ValueError, match="built with embedder"):
        CorpusStore(root, embedder="all-MiniLM-L6-v2")


def test_unloadable_embedder_is_a_clear_error(tmp_path: Path, docs_dir: Path) -> None:
    store = CorpusStore(tmp_path / "c", embedder=str(tmp_path / "no-such-model"))
    with pytest.raises(ValueError, match="embedding model .*cannot load"):
        store.add([docs_dir / "recipe.txt"])
    assert store.is_empty()


def test_cross_encoder_rerank(built_store, tiny_reranker: Path) -> None:
    from sentence_transformers import CrossEncoder

    store, _ = built_store
    reranked = CorpusStore(store.root, reranker=str(tiny_reranker))
    q = "How fast does the Zorblax blender spin?"
    res = reranked.search(q, top_k=4)
    assert len(res) == 4
    scores = [p.score for p in res]
    assert scores == sorted(scores, reverse=True)
    ce = CrossEncoder(str(tiny_reranker), device="cpu")
    expect = ce.predict([(q, p.text) for p in res])
    assert [round(float(s), 4) for s in expect] == [round(s, 4) for s in scores]
    # without the reranker, scores are RRF fusion scores (at most 2/(60+1))
    plain = store.search(q, top_k=4)
    assert all(0 < p.score <= 2 / 61 + 1e-9 for p in plain)
    assert reranked.search(q, top_k=4, rerank=False)[0].score == plain[0].score
