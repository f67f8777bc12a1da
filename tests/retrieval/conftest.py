"""Shared fixtures for retrieval tests: real files written to tmp dirs, the real MiniLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def make_pdf(path: Path, pages: list[str], password: str | None = None) -> Path:
    """Write a real PDF (Helvetica text, one page per string) with a correct xref table;
    optionally encrypted with a user password through pypdf."""
    objs: list[bytes] = []
    n_pages = len(pages)
    font_id = 3
    page_ids = [4 + 2 * i for i in range(n_pages)]
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        lines = []
        for para in text.split("\n"):
            esc = para.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            lines.append(f"({esc}) Tj T*")
        stream = ("BT /F1 11 Tf 14 TL 50 750 Td " + " ".join(lines) + " ET").encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    if password:
        from pypdf import PdfReader, PdfWriter

        w = PdfWriter(clone_from=PdfReader(str(path)))
        w.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
        with open(path, "wb") as f:
            w.write(f)
    return path


@pytest.fixture(scope="session")
def minilm():
    """Load the offline MiniLM once for the whole session (shared through the model cache)."""
    from retrieval.embedding import Embedder

    e = Embedder()
    _ = e.dim
    return e


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory) -> Path:
    """A small folder of real documents in every supported format plus bad inputs."""
    d = tmp_path_factory.mktemp("docs")
    (d / "guide.md").write_text(
        "# Stepvox field guide\n\nThis guide covers the island.\n\n"
        "## The lighthouse\n\nThe Halvorsen lighthouse on Brekkø island was painted green in 1931 "
        "by keeper Ingrid Dahl.\n\n## Ferries\n\nThe ferry to Brekkø leaves from Osterhavn at 07:40 "
        "every weekday.\n",
        encoding="utf-8",
    )
    (d / "recipe.txt").write_text(
        "Grandmother's cake\n\nThe secret cake recipe uses 42 grams of cardamom and a pinch of saffron.\n",
        encoding="utf-8",
    )
    (d / "page.html").write_text(
        "<html><head><title>Zorblax manual</title><script>var x = 'do not index';</script></head>"
        "<body><nav>Home | About</nav><main><h1>Zorblax</h1><p>The Zorblax 9000 blender spins at "
        "<b>31,000 rpm</b> and ships with a titanium blade.</p><h2>Cleaning</h2><p>Rinse the jar "
        "with warm water after each use.</p></main><footer>© nobody</footer></body></html>",
        encoding="utf-8",
    )
    make_pdf(
        d / "report.pdf",
        ["Annual report of the Quillfeather Society", "Membership rose to 1,284 members in 2024."],
    )
    sub = d / "sub"
    sub.mkdir()
    (sub / "notes.markdown").write_text(
        "Notes\n=====\n\nThe wifi password at the cabin is otter-basket-77.\n", encoding="utf-8"
    )
    return d


@pytest.fixture(scope="session")
def built_store(tmp_path_factory, docs_dir, minilm):
    """A store with docs_dir ingested (read-only use in tests)."""
    from retrieval import CorpusStore

    store = CorpusStore(tmp_path_factory.mktemp("home") / "corpora")
    report = store.add([docs_dir], name="field")
    return store, report


@pytest.fixture(scope="session")
def forkserver(tmp_path_factory):
    """Real `stepvox` CLI processes forked from one that has loaded MiniLM (see forkserver.py)."""
    from .forkserver import ForkServer

    fs = ForkServer(tmp_path_factory.mktemp("forkserver"))
    yield fs
    fs.close()
