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

    gen = store._generation()
    r2 = store.add([d], name="ops")
    assert len(r2.unchanged) == 3 and not (r2.added or r2.updated or r2.removed)
    assert store._generation() == gen  # nothing to write: no new generation

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


def test_remove_by_path_matches_whole_components(tmp_path: Path, minilm) -> None:
    kb = tmp_path / "kb"
    files = ["a/b/one.txt", "a/bc.txt", "a/b.txt", "a_b/x.txt", "aXb/y.txt", "A/B/z.txt", "p%q/w.txt"]
    for i, rel in enumerate(files):
        (kb / rel).parent.mkdir(parents=True, exist_ok=True)
        (kb / rel).write_text(f"Document {i} tells of the harbour number {i * 7}.\n")
    store = CorpusStore(tmp_path / "c")
    store.add([kb], name="kb")

    def left() -> list[str]:
        return sorted(str(Path(d["source"]).relative_to(kb)) for d in store.documents())

    assert store.remove(str(kb / "a" / "b")) == 1  # the folder a/b, not a/bc.txt nor a/b.txt
    assert "a/b/one.txt" not in left() and {"a/bc.txt", "a/b.txt"} <= set(left())
    assert store.remove(str(kb / "a" / "b.txt")) == 1  # exactly that file
    assert store.remove(str(kb / "a_b")) == 1 and "aXb/y.txt" in left()  # `_` is no wildcard
    assert store.remove(str(kb / "p%")) == 0 and store.remove(str(kb / "p%q")) == 1
    assert store.remove(str(kb / "a" / "B")) == 0 and "A/B/z.txt" in left()  # case counts
    assert store.remove(str(kb) + "/") == 3  # a trailing slash names the same folder
    assert left() == [] and store.search("harbour") == []
    for target in ("/", "//", "", "  "):
        with pytest.raises(ValueError):
            store.remove(target)


def test_files_are_private(tmp_path: Path, minilm) -> None:
    old = os.umask(0o022)
    try:
        d = tmp_path / "kb"
        d.mkdir()
        (d / "a.txt").write_text("The private notes mention the walrus.\n")
        root = tmp_path / "home" / "corpora"
        store = CorpusStore(root)
        store.add([d])
        assert store.search("walrus")
    finally:
        os.umask(old)
    assert (root.stat().st_mode & 0o777) == 0o700
    seen = set()
    for p in [root, *root.rglob("*")]:
        want = 0o700 if p.is_dir() else 0o600
        assert (p.stat().st_mode & 0o777) == want, (p, oct(p.stat().st_mode))
        seen.add(p.name.split("-")[0].split(".")[0])
    assert {"corpus", "dense", "bm25", "writer", "ids"} <= seen


def test_reranker_is_passed_in_not_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPVOX_RERANKER", str(tmp_path / "some-cross-encoder"))
    assert CorpusStore(tmp_path / "c").reranker_name is None
    assert CorpusStore(tmp_path / "c", reranker="x/y").reranker_name == "x/y"


def test_writer_sees_commits_made_through_another_handle(tmp_path: Path, minilm) -> None:
    """Two handles (as two processes would): each add builds on the other's commit."""
    d = tmp_path / "kb"
    d.mkdir()
    for i in range(4):
        (d / f"f{i}.txt").write_text(f"Fact {i}: the lantern number {i} burns {i * 3} hours.\n")
    a, b = CorpusStore(tmp_path / "c"), CorpusStore(tmp_path / "c")
    a.search("lantern")
    b.search("lantern")  # both hold the (empty) first state
    a.add([d / "f0.txt"])
    b.add([d / "f1.txt"])
    a.add([d / "f2.txt"])
    b.add([d / "f3.txt"])
    for s in (a, b, CorpusStore(tmp_path / "c")):
        srcs = {Path(p.source).name for p in s.search("lantern burns hours", top_k=10)}
        assert srcs == {"f0.txt", "f1.txt", "f2.txt", "f3.txt"}
        assert s._indexes().size == 4
        assert len(s.search("lantern", top_k=10, mode="bm25")) == 4
