"""Structural chunking: sections from headings, chunks packed from paragraphs.

A chunk is a span [start, end) of the document's extracted text, inside one section
(the heading path, e.g. "Install > On Linux"). Paragraphs are packed greedily up to
`max_chars`; a paragraph longer than that is cut at sentence (else word) boundaries.
Consecutive chunks of the same section overlap by about `overlap` characters, cut at a
word boundary. Chunks never cross a heading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.loaders import LoadedDocument

DEFAULT_MAX_CHARS = 1000
DEFAULT_OVERLAP = 150


@dataclass
class Chunk:
    section: str
    text: str
    start: int
    end: int


_SENTENCE_END = re.compile(r"[.!?;:][\"')\]]?\s+")


def _split_long(text: str, s: int, e: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut text[s:e] into spans of at most max_chars, at sentence ends, else whitespace."""
    spans = []
    while e - s > max_chars:
        window = text[s : s + max_chars]
        cut = -1
        for m in _SENTENCE_END.finditer(window):
            if m.end() >= max_chars // 3:
                cut = m.end()
        if cut <= 0:
            ws = window.rfind(" ", max_chars // 3)
            nl = window.rfind("\n", max_chars // 3)
            cut = max(ws, nl) + 1
        if cut <= 0:
            cut = max_chars
        spans.append((s, s + cut))
        s += cut
        while s < e and text[s].isspace():
            s += 1
    if e > s:
        spans.append((s, e))
    return spans


def _overlap_start(text: str, prev_start: int, prev_end: int, overlap: int) -> int:
    """Where the next chunk starts so that it repeats ~overlap chars of the previous one."""
    if overlap <= 0:
        return prev_end
    lo = max(prev_start + 1, prev_end - overlap)
    seg = text[lo:prev_end]
    # prefer a sentence start, else a word start
    m = _SENTENCE_END.search(seg)
    if m and m.end() < len(seg):
        return lo + m.end()
    sp = seg.find(" ")
    if 0 <= sp < len(seg) - 1:
        return lo + sp + 1
    return prev_end


def _strip_span(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def chunk_document(
    doc: LoadedDocument, max_chars: int = DEFAULT_MAX_CHARS, overlap: int = DEFAULT_OVERLAP
) -> list[Chunk]:
    text = doc.text
    overlap = max(0, min(overlap, max_chars // 2))
    chunks: list[Chunk] = []
    heads: list[tuple[int, str]] = []  # (level, text) stack
    section = ""
    cur: list[tuple[int, int]] = []  # unit spans of the chunk being built

    def emit() -> None:
        if cur:
            s, e = _strip_span(text, cur[0][0], cur[-1][1])
            if e > s:
                chunks.append(Chunk(section, text[s:e], s, e))
        cur.clear()

    for b in doc.blocks:
        if b.kind == "heading":
            emit()
            heads = [h for h in heads if h[0] < b.level] + [(b.level, b.text)]
            section = " > ".join(h for _, h in heads)
            continue
        for us, ue in _split_long(text, b.start, b.end, max_chars):
            if cur and ue - cur[0][0] > max_chars:
                ps, pe = cur[0][0], cur[-1][1]
                emit()
                ns = _overlap_start(text, ps, pe, overlap)
                if ns < pe and ue - ns <= max_chars + overlap:
                    cur.append((ns, pe))
            cur.append((us, ue))
    emit()
    return chunks
