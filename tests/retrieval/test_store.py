"""CorpusStore end to end on real files: ingest, search, incremental updates, bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from retrieval import CorpusStore, KnowledgeRetriever, Passage

from .conftest import make_pdf


def _top(store: CorpusStore, q: str, **kw) -> Passage:
    res = store.search(q, top_k=3, **kw)
    assert res, q
    return res[0]


def test_ingest_all_formats(built_store, docs_dir: Path) -> None:
    store, report = built_store
    assert sorted(Path(p).name for p in report.added) == [
        "guide.md", "notes.markdown", "page.html", "recipe.txt", "report.pdf",
    ]  # fmt: skip
    assert report.skipped == [] and report.chunks_added >= 6
    assert [c["name"] for c in store.list()] == ["field"]
    assert store.list()[0]["documents"] == 5


@pytest.mark.parametrize(
    ("question", "file", "fact"),
    [
        ("What colour was the lighthouse painted?", "guide.md", "green"),
        ("How much cardamom goes into the cake?", "recipe.txt", "42 grams"),
        ("How fast does the Zorblax blender spin?", "page.html", "31,000 rpm"),
        ("How many members does the Quillfeather Society have?", "report.pdf", "1,284"),
        ("What is the cabin wifi password?", "notes.markdown", "otter-basket-77"),
    ],
)
def test_search_finds_fact_with_source(built_store, question: str, file: str, fact: str) -> None:
    store, _ = built_store
    for mode in ("hybrid", "dense", "bm25"):
        p = _top(store, question, mode=mode)
        assert Path(p.source).name == file, (mode, p)
        assert fact in p.text
    p = _top(store, question)
    assert p.corpus == "field" and p.title and p.chunk_id >= 0 and p.end > p.start
    assert 0.2 < p.relevance <= 1.0 and p.score > 0


def test_passage_metadata_and_offsets(built_store, docs_dir: Path) -> None:
    store, _ = built_store
    p = _top(store, "When does the ferry leave?")
    assert p.title == "Stepvox field guide" and p.section == "Stepvox field guide > Ferries"
    assert (docs_dir / "guide.md").read_text()[p.start : p.end] == p.text
    h = _top(store, "Zorblax blender speed")
    assert h.title == "Zorblax manual" and "do not index" not in h.text and "Home" not in h.text


def test_relevance_low_for_unrelated_question(built_store) -> None:
    store, _ = built_store
    res = store.search("Who won the football world cup in 1966?", top_k=5)
    assert all(p.relevance < 0.3 for p in res)


def test_corpus_filter_and_empty_inputs(built_store) -> None:
    store, _ = built_store
    assert store.search("lighthouse", corpus="nope") == []
    assert store.search("   ") == []
    assert store.search("lighthouse", top_k=0) == []
    with pytest.raises(ValueError, match="unknown search mode"):
        store.search("x", mode="fuzzy")


def test_empty_store(tmp_path: Path) -> None:
    store = CorpusStore(tmp_path / "c")
    assert store.is_empty() and store.search("anything") == [] and store.list() == []
    assert store.remove("default") == 0


def test_retriever_adapter(built_store) -> None:
    store, _ = built_store
    r = KnowledgeRetriever(store=store, top_k=2)
    docs = r.invoke("cardamom cake recipe")
    assert 1 <= len(docs) <= 2
    d = docs[0]
    assert "cardamom" in d.page_content
    assert d.metadata["source"].endswith("recipe.txt")
    assert {"title", "section", "score", "relevance", "corpus", "chunk_id", "start", "end"} <= set(
        d.metadata
    )
    assert KnowledgeRetriever(store=store, top_k=3, min_relevance=0.99).invoke("cardamom") == []


def test_bad_input_skipped_rest_ingested(tmp_path: Path, minilm) -> None:
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "good.txt").write_text("Good file: the zeppelin hangar is in Friedrichshafen.\n")
    (d / "empty.txt").write_bytes(b"")
    (d / "latin1.txt").write_bytes("Gr\xfc\xdfe aus M\xfcnchen".encode("latin-1"))
    (d / "binary.txt").write_bytes(os.urandom(64) + b"\x00" * 16)
    (d / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(32))
    make_pdf(d / "locked.pdf", ["Top secret launch codes"], password="hunter2")
    (d / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(200))
    with open(d / "huge.md", "wb") as fh:
        fh.truncate(40 * 1024 * 1024)
    (d / "dangling.md").symlink_to(d / "does-not-exist.md")
    store = CorpusStore(tmp_path / "c")
    report = store.add([d, tmp_path / "missing.txt"])
    assert [Path(p).name for p in report.added] == ["good.txt"]
    reasons = {Path(p).name: r for p, r in report.skipped}
    assert reasons["empty.txt"] == "empty file"
    assert reasons["latin1.txt"].startswith("not UTF-8 text")
    assert reasons["binary.txt"].startswith("binary file")
    assert reasons["image.png"].startswith("unsupported file type .png")
    assert reasons["locked.pdf"] == "encrypted PDF (needs a password)"
    assert reasons["corrupt.pdf"].startswith("unreadable PDF")
    assert reasons["huge.md"].startswith("file too large")
    assert reasons["dangling.md"].startswith("unreadable")
    assert reasons["missing.txt"] == "no such file or directory"
    assert all("\n" not in r for r in reasons.values())
    assert "Friedrichshafen" in store.search("where is the zeppelin hangar?", 1)[0].text


def test_incremental_updates(tmp_path: Path, minilm) -> None:
    d = tmp_path / "kb"
    d.mkdir()
    (d / "a.md").write_text("# Alpha\n\nThe alpha server runs on port 8123.\n")
    (d / "b.txt").write_text("The beta database is backed up every Tuesday.\n")
    (d / "c.txt").write_text("The gamma cluster has 12 nodes.\n")
    root = tmp_path / "corpora"
    store = CorpusStore(root)
    r1 = store.add([d], name="ops")
    assert len(r1.added) == 3

    r2 = store.add([d], name="ops")
    assert len(r2.unchanged) == 3 and not (r2.added or r2.updated or r2.removed)

    (d / "a.md").write_text("# Alpha\n\nThe alpha server moved to port 9456.\n")
    (d / "c.txt").unlink()
    (d / "d.txt").write_text("The delta queue drains at midnight.\n")
    seen: list[tuple[int, int, str]] = []
    r3 = store.add([d], name="ops", progress=lambda i, n, p: seen.append((i, n, p)))
    assert [Path(p).name for p in r3.updated] == ["a.md"]
    assert [Path(p).name for p in r3.removed] == ["c.txt"]
    assert [Path(p).name for p in r3.added] == ["d.txt"]
    assert [Path(p).name for p in r3.unchanged] == ["b.txt"]
    assert seen[-1][0] == seen[-1][1] == 3

    texts = " ".join(p.text for p in store.search("alpha server port", 5))
    assert "9456" in texts and "8123" not in texts
    assert all("gamma" not in p.text for p in store.search("gamma cluster nodes", 5))
    assert store.list()[0]["documents"] == 3

    # a second process-like handle sees the same data, and sees later changes
    other = CorpusStore(root)
    assert "midnight" in other.search("when does the delta queue drain?", 1)[0].text
    assert store.remove(str(d / "b.txt")) == 1
    assert all("beta" not in p.text for p in other.search("beta database backup", 5))

    # a file that became bad input loses its old content
    (d / "d.txt").write_bytes(b"")
    r4 = store.add([d], name="ops")
    assert [Path(p).name for p in r4.removed] == ["d.txt"]
    assert "empty file" in dict(r4.skipped).values()
    assert [Path(p).name for p in r4.added] == ["b.txt"]  # removed by hand, still on disk

    assert store.remove("ops") == 2  # a.md and b.txt
    assert store.is_empty() and other.search("alpha") == []


def test_same_file_in_two_corpora_and_remove_by_folder(tmp_path: Path, minilm) -> None:
    d = tmp_path / "kb"
    (d / "x").mkdir(parents=True)
    (d / "x" / "one.txt").write_text("The orchid greenhouse is kept at 24 degrees.\n")
    (d / "two.txt").write_text("The cactus room is kept dry.\n")
    store = CorpusStore(tmp_path / "c")
    store.add([d], name="a")
    store.add([d / "x" / "one.txt"], name="b")
    assert {c["name"]: c["documents"] for c in store.list()} == {"a": 2, "b": 1}
    hits = store.search("orchid greenhouse temperature", 5)
    assert {p.corpus for p in hits if "orchid" in p.text} == {"a", "b"}
    assert store.remove(str(d / "x")) == 2  # both corpora's copies under that folder
    assert {c["name"]: c["documents"] for c in store.list()} == {"a": 1}


def test_recovers_when_index_files_are_lost(tmp_path: Path, minilm) -> None:
    d = tmp_path / "kb"
    d.mkdir()
    (d / "a.txt").write_text("Penguins in the zoo are fed herring at noon.\n")
    root = tmp_path / "c"
    CorpusStore(root).add([d])
    for p in root.iterdir():
        if p.name.startswith(("dense-", "bm25-")):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    fresh = CorpusStore(root)
    assert "herring" in fresh.search("what do the penguins eat?", 1)[0].text
    assert any(p.name.startswith("dense-") for p in root.iterdir())
    gen = fresh._generation()
    assert fresh.rebuild(embeddings=False) == 1 and fresh._generation() == gen + 1
    assert "herring" in fresh.search("penguins herring", 1, mode="bm25")[0].text


def test_bm25_stemming_recorded_with_index(built_store) -> None:
    pytest.importorskip("Stemmer")
    store, _ = built_store
    gen = store._generation()
    assert (store.root / f"bm25-{gen}" / "stemmer.txt").read_text() == "english"
    # "lighthouses" / "painting" only match "lighthouse" / "painted" after stemming
    p = store.search("lighthouses painting", top_k=1, mode="bm25")[0]
    assert Path(p.source).name == "guide.md"


def test_new_handles_share_loaded_indexes(built_store) -> None:
    store, _ = built_store
    store.search("lighthouse", 1)
    a, b = CorpusStore(store.root), CorpusStore(store.root)
    assert a.search("ferry", 1)[0].source == b.search("ferry", 1)[0].source
    assert a._ix.dense is b._ix.dense is store._ix.dense  # loaded once per process and generation
