"""Read one file into structured blocks (headings and paragraphs) with character offsets.

Each loader returns a `LoadedDocument`: the extracted text and its blocks. For txt and md
the extracted text is the file's own text, so offsets point into the file; for html and
pdf they point into the extracted text (blocks joined by blank lines).

Bad input raises `SkipFile(reason)` with a short human reason; the store records it
and moves on.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024

# pypdf reports damage it repairs as log warnings; with no handler configured anywhere they
# would reach stderr bare ("EOF marker not found"). The reason a file is skipped is ours to say.
logging.getLogger("pypdf").addHandler(logging.NullHandler())


class SkipFile(Exception):
    """A file that cannot be ingested; str(e) is the reason."""


@dataclass
class Block:
    kind: str  # "heading" or "para"
    text: str
    start: int
    end: int
    level: int = 0  # heading level 1..6


@dataclass
class LoadedDocument:
    text: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    kind: str = "text"


def _collapse(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _decode_utf8(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SkipFile(
            f"not UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """Read a regular file, enforcing the size limit; raises SkipFile on any problem."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SkipFile("unreadable: no such file (broken link?)") from None
    except OSError as e:
        raise SkipFile(f"unreadable: {e.strerror or e}") from None
    import stat as _stat

    if not _stat.S_ISREG(st.st_mode):
        raise SkipFile("not a regular file")
    if st.st_size == 0:
        raise SkipFile("empty file")
    if st.st_size > max_bytes:
        raise SkipFile(
            f"file too large ({st.st_size / 2**20:.1f} MiB > limit {max_bytes / 2**20:.1f} MiB)"
        )
    try:
        return path.read_bytes()
    except OSError as e:
        raise SkipFile(f"unreadable: {e.strerror or e}") from None


# ---------------------------------------------------------------- plain text and markdown

_PARA_SPLIT = re.compile(r"\n[ \t]*\n")


def _paragraph_spans(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """Spans of non-blank paragraphs in text[lo:hi] (separated by blank lines)."""
    spans = []
    pos = lo
    for m in _PARA_SPLIT.finditer(text, lo, hi):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, hi))
    out = []
    for s, e in spans:
        seg = text[s:e]
        if not seg.strip():
            continue
        s += len(seg) - len(seg.lstrip())
        e -= len(seg) - len(seg.rstrip())
        out.append((s, e))
    return out


def load_text(data: bytes, path: Path) -> LoadedDocument:
    text = _decode_utf8(data)
    if not text.strip():
        raise SkipFile("no text (only whitespace)")
    blocks = [Block("para", text[s:e], s, e) for s, e in _paragraph_spans(text, 0, len(text))]
    first = text.strip().splitlines()[0]
    title = _collapse(first)[:120] if len(first) <= 120 else path.stem
    return LoadedDocument(text=text, title=title or path.stem, blocks=blocks, kind="text")


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def load_markdown(data: bytes, path: Path) -> LoadedDocument:
    text = _decode_utf8(data)
    if not text.strip():
        raise SkipFile("no text (only whitespace)")
    lines = text.splitlines(keepends=True)
    offsets = []
    pos = 0
    for ln in lines:
        offsets.append(pos)
        pos += len(ln)
    blocks: list[Block] = []
    title = ""
    para_lo: int | None = None
    in_fence: str | None = None

    def close_para(hi: int) -> None:
        nonlocal para_lo
        if para_lo is not None:
            for s, e in _paragraph_spans(text, para_lo, hi):
                blocks.append(Block("para", text[s:e], s, e))
        para_lo = None

    i = 0
    while i < len(lines):
        ln = lines[i].rstrip("\r\n")
        lo = offsets[i]
        fm = _FENCE.match(ln)
        if in_fence:
            if fm and fm.group(1) == in_fence:
                in_fence = None
            i += 1
            continue
        if fm:
            in_fence = fm.group(1)
            if para_lo is None:
                para_lo = lo
            i += 1
            continue
        m = _ATX.match(ln)
        nxt = lines[i + 1].rstrip("\r\n") if i + 1 < len(lines) else ""
        if m:
            close_para(lo)
            htxt = _collapse(m.group(2))
            blocks.append(Block("heading", htxt, lo, lo + len(ln), level=len(m.group(1))))
            if not title and htxt:
                title = htxt
            i += 1
            continue
        if (
            ln.strip()
            and _SETEXT.match(nxt)
            and not (para_lo is not None and _has_text_since(text, para_lo, lo))
        ):
            close_para(lo)
            htxt = _collapse(ln)
            level = 1 if nxt.strip().startswith("=") else 2
            blocks.append(Block("heading", htxt, lo, offsets[i + 1] + len(nxt), level=level))
            if not title and htxt:
                title = htxt
            i += 2
            continue
        if para_lo is None:
            para_lo = lo
        i += 1
    close_para(len(text))
    if not any(b.kind == "para" for b in blocks) and not blocks:
        raise SkipFile("no text found")
    return LoadedDocument(text=text, title=title or path.stem, blocks=blocks, kind="markdown")


def _has_text_since(text: str, lo: int, hi: int) -> bool:
    """True when text[lo:hi] ends inside a paragraph (a setext underline would then be prose)."""
    seg = text[lo:hi]
    return bool(seg.strip()) and not seg.endswith(("\n\n", "\r\n\r\n"))


# ---------------------------------------------------------------- html

_HTML_SKIP = {
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template",
    "svg", "button", "select", "iframe", "head",
}  # fmt: skip
_HTML_BLOCK = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "pre", "blockquote", "table", "tr", "td",
    "th", "section", "article", "main", "figure", "figcaption", "br", "hr", "body", "tbody",
    "thead", "details", "summary", "address",
}  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HTML_NOISE_CLASSES = ("headerlink", "sphinxsidebar", "related", "footer", "navigation", "toc")


def _decode_html(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    m = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_\-]+)""", data[:4096], re.I)
    if m:
        enc = m.group(1).decode("ascii", "ignore")
        try:
            return data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            raise SkipFile(f"cannot decode HTML as its declared charset {enc!r}") from None
    raise SkipFile("not UTF-8 HTML and no charset declared")


def load_html(data: bytes, path: Path) -> LoadedDocument:
    import lxml.html
    from lxml import etree

    src = _decode_html(data)
    if not src.strip():
        raise SkipFile("no text (only whitespace)")
    try:
        root = lxml.html.document_fromstring(src)
    except (etree.ParserError, ValueError) as e:
        raise SkipFile(f"unparseable HTML: {e}") from None
    title_el = root.find(".//title")
    title = _collapse(title_el.text_content()) if title_el is not None else ""
    # the page's main content when marked (HTML5 main, ARIA role, Sphinx's div.body)
    main = None
    for xp in (
        "//main",
        "//*[@role='main']",
        "//div[contains(concat(' ', @class, ' '), ' body ')]",
    ):
        found = root.xpath(xp)
        if found:
            main = found[0]
            break
    if main is None:
        main = root.find("body") if root.find("body") is not None else root

    out: list[tuple[str, str, int]] = []  # (kind, text, level)
    buf: list[str] = []
    pre_depth = [0]

    def flush() -> None:
        raw = "".join(buf)
        buf.clear()
        t = raw.strip("\n") if pre_depth[0] else _collapse(raw)
        if t.strip():
            out.append(("para", t, 0))

    def walk(el) -> None:  # noqa: ANN001
        tag = el.tag if isinstance(el.tag, str) else ""
        cls = el.get("class", "") if tag else ""
        if not tag or tag in _HTML_SKIP or any(c in cls.split() for c in _HTML_NOISE_CLASSES):
            return
        if tag in _HEADINGS:
            flush()
            t = _collapse(el.text_content()).rstrip("¶").strip()
            if t:
                out.append(("heading", t, _HEADINGS[tag]))
            return
        is_block = tag in _HTML_BLOCK
        if tag == "pre":
            flush()
            pre_depth[0] += 1
            buf.append(el.text_content())
            flush()
            pre_depth[0] -= 1
            return
        if is_block:
            flush()
        if el.text:
            buf.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                buf.append(child.tail)
        if is_block:
            flush()

    walk(main)
    flush()
    if not any(k == "para" for k, _, _ in out):
        raise SkipFile("no text found in HTML")
    text_parts: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for kind, t, level in out:
        if text_parts:
            text_parts.append("\n\n")
            pos += 2
        blocks.append(Block(kind, t, pos, pos + len(t), level))
        text_parts.append(t)
        pos += len(t)
    if not title:
        h = next((b.text for b in blocks if b.kind == "heading"), "")
        title = h or path.stem
    return LoadedDocument(text="".join(text_parts), title=title, blocks=blocks, kind="html")


# ---------------------------------------------------------------- pdf


_HYPHEN_BREAK = re.compile(r"([a-z])-[ \t]*\n[ \t]*([a-z])")


def load_pdf(data: bytes, path: Path) -> LoadedDocument:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise SkipFile("not a PDF (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001  (missing crypto backend, unknown algorithm)
                ok = 0
            if not ok:
                raise SkipFile("encrypted PDF (needs a password)")
        pages = [(p.extract_text() or "") for p in reader.pages]
        meta_title = ""
        try:
            if reader.metadata and reader.metadata.title:
                meta_title = _collapse(str(reader.metadata.title))
        except Exception:  # noqa: BLE001
            meta_title = ""
    except SkipFile:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as e:
        raise SkipFile(f"unreadable PDF: {_collapse(str(e))[:160] or type(e).__name__}") from None
    blocks: list[Block] = []
    parts: list[str] = []
    pos = 0
    for n, page in enumerate(pages, start=1):
        page = _HYPHEN_BREAK.sub(r"\1\2", page)  # "man-\nagement" -> "management"
        paras = [_collapse(p) for p in re.split(r"\n\s*\n", page)]
        paras = [p for p in paras if p]
        if not paras:
            continue
        head = f"page {n}"
        for kind, t, level in [("heading", head, 1)] + [("para", p, 0) for p in paras]:
            if parts:
                parts.append("\n\n")
                pos += 2
            blocks.append(Block(kind, t, pos, pos + len(t), level))
            parts.append(t)
            pos += len(t)
    if not any(b.kind == "para" for b in blocks):
        raise SkipFile("no extractable text in PDF (scanned images?)")
    first = next(b.text for b in blocks if b.kind == "para")
    title = meta_title or (first[:120] if len(first) <= 120 else path.stem)
    return LoadedDocument(text="".join(parts), title=title, blocks=blocks, kind="pdf")


def load_file(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> LoadedDocument:
    """Load any supported file; unknown suffixes are read as plain text."""
    return parse_bytes(read_bytes(path, max_bytes), path)


def parse_bytes(data: bytes, path: Path) -> LoadedDocument:
    """Parse a file's bytes by its suffix (PDF also by its header)."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES or data[:5] == b"%PDF-":
        return load_pdf(data, path)
    if suffix in HTML_SUFFIXES:
        return load_html(data, path)
    if suffix in MARKDOWN_SUFFIXES:
        return load_markdown(data, path)
    return load_text(data, path)
