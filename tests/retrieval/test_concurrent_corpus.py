"""Two and four `stepvox corpus add` processes at once on one corpus end as the same adds
run one after another would: same documents, every chunk in the dense and BM25 index,
same search results; a reader opened before them sees the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import CorpusStore

from .corpus_state import assert_consistent, fact_doc


def _doc_sets(base: Path, writers: int, per_writer: int = 4) -> tuple[list[Path], list[str]]:
    sets, questions = [], []
    for w in range(writers):
        d = base / f"set{w}"
        d.mkdir(parents=True)
        for j in range(per_writer):
            key = f"zq{w}x{j}"
            questions.append(fact_doc(d / f"{key}.md", key, seed=100 * w + j))
        sets.append(d)
    return sets, questions


def _results(store: CorpusStore, questions: list[str]) -> list:
    out = []
    for q in questions:
        for mode in ("hybrid", "dense", "bm25"):
            hits = store.search(q, top_k=3, mode=mode)
            out.append(
                [(h.source, h.section, h.text, h.corpus, round(h.relevance, 4)) for h in hits]
            )
    return out


def _summary(root: Path) -> dict:
    s = assert_consistent(root)
    return {"documents": s["documents"], "chunks": len(s["chunk_ids"])}


@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_adds_equal_serial(tmp_path: Path, forkserver, minilm, writers: int) -> None:
    sets, questions = _doc_sets(tmp_path / "docs", writers)
    serial = CorpusStore(tmp_path / "serial" / "corpora")
    for d in sets:
        serial.add([d], name="shared")

    home = tmp_path / "home"
    reader = CorpusStore(home / "corpora")
    assert reader.search(questions[0]) == []
    children = [
        forkserver.start(["corpus", "add", str(d), "--name", "shared", "--home", str(home), "--json"])
        for d in sets
    ]
    for c in children:
        rc = forkserver.wait(c, 180)
        assert rc == 0, (rc, c.stderr)

    root = home / "corpora"
    got, want = _summary(root), _summary(serial.root)
    assert got == want
    assert got["chunks"] >= 4 * writers
    fresh = CorpusStore(root)
    assert _results(fresh, questions) == _results(serial, questions)
    # the handle opened before the writers follows their commits
    assert _results(reader, questions) == _results(serial, questions)
    for q, key in zip(questions, [p.stem for d in sets for p in sorted(d.iterdir())], strict=True):
        assert Path(fresh.search(q, top_k=1, mode="bm25")[0].source).stem == key


def test_concurrent_add_and_remove(tmp_path: Path, forkserver, minilm) -> None:
    """A removal racing two adds: the removed corpus is gone, the added ones whole."""
    sets, questions = _doc_sets(tmp_path / "docs", 3)
    home = tmp_path / "home"
    rc, c = forkserver.run(["corpus", "add", str(sets[0]), "--name", "old", "--home", str(home)])
    assert rc == 0, c.stderr
    children = [
        forkserver.start(["corpus", "add", str(sets[1]), "--name", "a", "--home", str(home)]),
        forkserver.start(["corpus", "remove", "old", "--home", str(home)]),
        forkserver.start(["corpus", "add", str(sets[2]), "--name", "b", "--home", str(home)]),
    ]
    for c in children:
        assert forkserver.wait(c, 180) == 0, c.stderr
    s = assert_consistent(home / "corpora")
    assert sorted({d[0] for d in s["documents"]}) == ["a", "b"]
    assert len(s["documents"]) == 8
    store = CorpusStore(home / "corpora")
    assert all(p.corpus != "old" for q in questions for p in store.search(q, top_k=5))
