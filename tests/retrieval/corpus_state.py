"""Test helpers: documents with known facts, and a corpus store's state read straight from
its files (SQLite rows, the committed generation's FAISS and BM25 files), independent of
CorpusStore, to check that they agree."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import faiss
import numpy as np

CITIES = ["Osterhavn", "Brekkø", "Valdrin", "Karsk", "Umbria", "Teller", "Quorn", "Ilsby"]
THINGS = ["lighthouse", "ferry", "bakery", "observatory", "library", "greenhouse", "mill", "harbour"]
FILLER = (
    "river stone cloud winter market bridge candle orchard tower meadow copper lantern "
    "harvest signal garden voyage thunder marble hollow compass"
).split()
COLOURS = ["green", "crimson", "ochre", "violet", "silver", "teal", "amber", "indigo"]


def fact_doc(path: Path, key: str, seed: int, paragraphs: int = 3) -> str:
    """Write a markdown document about `key` (a made-up word found nowhere else); returns a
    question whose answer is in it."""
    rng = random.Random(seed)
    thing, city, colour = rng.choice(THINGS), rng.choice(CITIES), rng.choice(COLOURS)
    lines = [f"# The {key} {thing}", ""]
    lines += [
        f"The {key} {thing} in {city} was painted {colour} in {1900 + seed % 120} by keeper "
        f"{key.capitalize()} Dahl, " + " ".join(rng.choice(FILLER) for _ in range(rng.randint(3, 30))),
        "",
    ]  # random filler lengths: no two chunks tie on BM25 score
    for p in range(paragraphs):
        lines.append(
            f"## Part {p}\n\nVisitors to the {key} {thing} arrive on the {rng.choice(CITIES)} "
            f"ferry at {rng.randint(5, 22):02d}:{rng.randint(0, 59):02d}; the {key} tickets cost "
            f"{rng.randint(2, 90)} crowns and the guide speaks of {rng.choice(THINGS)}s. "
            + " ".join(rng.choice(FILLER) for _ in range(rng.randint(5, 40)))
            + ".\n"
        )
    path.write_text("\n".join(lines), encoding="utf-8")
    return f"what colour was the {key} {thing} painted?"


def read_state(root: Path) -> dict:
    """documents, chunk ids, and the ids in the committed generation's dense and BM25 files."""
    db = sqlite3.connect(root / "corpus.sqlite")
    try:
        row = db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        gen = int(row[0]) if row else 0
        docs = sorted(
            db.execute("SELECT corpus, source, sha256, n_chunks FROM documents").fetchall()
        )
        chunk_ids = sorted(r[0] for r in db.execute("SELECT id FROM chunks"))
        per_doc = dict(
            db.execute(
                "SELECT d.source, COUNT(c.id) FROM documents d LEFT JOIN chunks c ON c.doc_id=d.id"
                " GROUP BY d.id"
            ).fetchall()
        )
    finally:
        db.close()
    state = {"gen": gen, "documents": docs, "chunk_ids": chunk_ids, "per_doc": per_doc}
    if chunk_ids:
        dense = faiss.read_index(str(root / f"dense-{gen}.faiss"))
        state["dense_ids"] = sorted(int(i) for i in faiss.vector_to_array(dense.id_map))
        state["dense_ntotal"] = int(dense.ntotal)
        state["bm25_ids"] = sorted(int(i) for i in np.load(root / f"bm25-{gen}" / "ids.npy"))
    return state


def assert_consistent(root: Path) -> dict:
    """Every chunk in SQLite is in the dense and BM25 index of the committed generation and
    vice versa; each document has the chunks it says. Returns the state."""
    s = read_state(root)
    for source, n in s["per_doc"].items():
        assert n > 0, f"{source}: document without chunks"
    assert sum(d[3] for d in s["documents"]) == len(s["chunk_ids"])
    if s["chunk_ids"]:
        assert s["dense_ntotal"] == len(s["chunk_ids"]), s["gen"]
        assert s["dense_ids"] == s["chunk_ids"], s["gen"]
        assert s["bm25_ids"] == s["chunk_ids"], s["gen"]
    return s


def store_digest(home: Path) -> dict:
    """Everything a command could change under `home`: each file's bytes and mode (SQLite's
    -wal/-shm companions aside, which a mere reader creates) and the database's rows."""
    import hashlib
    import stat

    files = {}
    for p in sorted(home.rglob("*")):
        if p.name.endswith(("-wal", "-shm")):
            continue
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        files[str(p.relative_to(home))] = (stat.filemode(st.st_mode), digest)
    dump: list[str] = []
    db_path = home / "corpora" / "corpus.sqlite"
    if db_path.exists():
        db = sqlite3.connect(db_path)
        try:
            dump = list(db.iterdump())
        finally:
            db.close()
    return {"files": files, "rows": dump}
