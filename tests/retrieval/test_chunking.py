"""Loaders and the structural chunker on real text (no model needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.chunking import chunk_document
from retrieval.loaders import SkipFile, load_file


def test_markdown_sections_and_offsets(tmp_path: Path) -> None:
    src = (
        "# Title\n\nIntro.\n\n## Part A\n\nAlpha text.\n\n```\n# not a heading\n```\n\n"
        "### Deeper\n\nDeep text.\n\n## Part B\n\nBeta text.\n"
    )
    f = tmp_path / "a.md"
    f.write_text(src, encoding="utf-8")
    doc = load_file(f)
    assert doc.title == "Title"
    chunks = chunk_document(doc, max_chars=200, overlap=0)
    sections = [c.section for c in chunks]
    assert sections == ["Title", "Title > Part A", "Title > Part A > Deeper", "Title > Part B"]
    assert "# not a heading" in chunks[1].text  # fenced code stays in its paragraph
    for c in chunks:  # offsets point into the file's own text
        assert src[c.start : c.end] == c.text


def test_long_section_split_with_overlap(tmp_path: Path) -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7}." for i in range(120)]
    paras = ["  ".join(sentences[i : i + 10]) for i in range(0, 120, 10)]
    f = tmp_path / "long.txt"
    f.write_text("\n\n".join(paras), encoding="utf-8")
    doc = load_file(f)
    chunks = chunk_document(doc, max_chars=400, overlap=80)
    assert len(chunks) > 5
    for c in chunks:
        assert len(c.text) <= 400 + 80
        assert doc.text[c.start : c.end] == c.text
    # consecutive chunks overlap, and together they cover the whole text
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end
    assert chunks[0].start == 0 and chunks[-1].end == len(doc.text.rstrip())


def test_one_huge_paragraph_is_cut_at_words(tmp_path: Path) -> None:
    f = tmp_path / "blob.txt"
    f.write_text(" ".join(f"word{i}" for i in range(3000)), encoding="utf-8")
    chunks = chunk_document(load_file(f), max_chars=500, overlap=50)
    assert all(len(c.text) <= 550 for c in chunks)
    assert all(not c.text.startswith(" ") and c.text.split()[0].startswith("word") for c in chunks)


def test_html_main_content_only(tmp_path: Path) -> None:
    f = tmp_path / "p.html"
    f.write_text(
        "<html><head><title>T</title><style>p{}</style></head><body><nav>menu</nav>"
        "<div role='main'><h1>Head<a class='headerlink'>¶</a></h1><p>Para <i>one</i>.</p>"
        "<ul><li>item a</li><li>item b</li></ul><pre>x = 1\ny = 2</pre></div></body></html>",
        encoding="utf-8",
    )
    doc = load_file(f)
    texts = [b.text for b in doc.blocks]
    assert texts == ["Head", "Para one.", "item a", "item b", "x = 1\ny = 2"]
    assert doc.title == "T"
    assert "menu" not in doc.text


def test_latin1_html_with_declared_charset(tmp_path: Path) -> None:
    f = tmp_path / "l.html"
    f.write_bytes(
        b'<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
        b"<body><p>cr\xe8me br\xfbl\xe9e</p></body></html>"
    )
    doc = load_file(f)
    assert doc.title == "Café" and "crème brûlée" in doc.text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\n \t\n", "no text"),
        ("latin1.txt", "café".encode("latin-1"), "not UTF-8 text (invalid byte 0xe9 at offset 3)"),
        ("nul.txt", b"abc\x00def", "binary file"),
        ("fake.pdf", b"this is not a pdf", "not a PDF"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\n%%EOF garbage", "PDF"),
    ],
)
def test_bad_input_reasons(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(SkipFile) as ei:
        load_file(f)
    assert reason in str(ei.value)


def test_huge_file_skipped_without_reading(tmp_path: Path) -> None:
    f = tmp_path / "huge.txt"
    with open(f, "wb") as fh:  # sparse: costs no disk
        fh.truncate(40 * 1024 * 1024)
    with pytest.raises(SkipFile, match="file too large"):
        load_file(f)


def test_pdf_pages_become_sections_and_hyphens_rejoin(tmp_path: Path) -> None:
    from .conftest import make_pdf

    f = make_pdf(tmp_path / "r.pdf", ["Structures man-\nagement guide", "Second page text"])
    doc = load_file(f)
    assert [b.text for b in doc.blocks] == [
        "page 1", "Structures management guide", "page 2", "Second page text",
    ]  # fmt: skip
    assert [c.section for c in chunk_document(doc)] == ["page 1", "page 2"]
