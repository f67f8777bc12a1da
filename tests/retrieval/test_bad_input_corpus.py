"""Bad input to `stepvox corpus ...`: exit 2, one line on stderr naming the input and the
problem, and the store exactly as it was (every file's bytes and mode, every row)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval import CorpusStore

from .conftest import make_pdf
from .corpus_state import store_digest

# (in_dir, kb) -> (argv, parts of the expected line[, environment])
Case = Callable[[Path, Path], tuple]


@pytest.fixture(scope="module")
def template(tmp_path_factory, minilm) -> tuple[Path, Path]:
    """A home with one corpus of a few documents, and the folder they came from."""
    base = tmp_path_factory.mktemp("bad-input")
    kb = base / "kb"
    for rel, text in {
        "docs/guide.md": "# Guide\n\nThe ferry to Brekkø leaves at 07:40.\n",
        "docsextra.txt": "The docs annex opens on Mondays.\n",
        "a_b/x.txt": "The underscore folder keeps the zeppelin notes.\n",
        "aXYb/z.txt": "The XY folder keeps the orchid notes.\n",
        "a%b/y.txt": "The percent folder keeps the cactus notes.\n",
    }.items():
        (kb / rel).parent.mkdir(parents=True, exist_ok=True)
        (kb / rel).write_text(text, encoding="utf-8")
    home = base / "home"
    store = CorpusStore(home / "corpora")
    assert len(store.add([kb], name="kb").added) == 5
    store.close()  # WAL checkpointed: the files are final
    (home / "corpora" / "writer.lock").unlink()  # a refused command must not even take the lock
    return home, kb


def _add(*args: str) -> list[str]:
    return ["corpus", "add", *args]


def _file(d: Path, name: str, data: bytes) -> Path:
    p = d / name
    p.write_bytes(data)
    return p


def _huge(d: Path) -> Path:
    p = d / "huge.md"
    with open(p, "wb") as fh:
        fh.truncate(40 * 1024 * 1024)  # sparse: over the 32 MiB limit, checked before reading
    return p


def _dir(d: Path, files: dict[str, bytes]) -> Path:
    sub = d / "folder"
    sub.mkdir()
    for name, data in files.items():
        (sub / name).write_bytes(data)
    return sub


def _fifo(d: Path) -> Path:
    p = d / "pipe.md"
    os.mkfifo(p)
    return p


def _link(d: Path) -> Path:
    p = d / "dangling.md"
    p.symlink_to(d / "gone.md")
    return p


def _unreadable(d: Path) -> Path:
    p = _file(d, "secret.md", b"# Secret\n\nNot for you.\n")
    p.chmod(0)
    return p


GARBAGE = bytes(range(256)) * 8  # NUL bytes and every other byte value

CASES: dict[str, Case] = {
    "add missing file": lambda d, k: (_add(str(d / "nope.md")), [str(d / "nope.md"), "no such file"]),
    "add two missing paths": lambda d, k: (
        _add(str(d / "a.md"), str(d / "b.md")), [str(d / "a.md"), "no such file"]
    ),
    "add empty folder": lambda d, k: (_add(str(_dir(d, {}))), [str(d / "folder"), "no files to add"]),
    "add folder of unsupported files": lambda d, k: (
        _add(str(_dir(d, {"img.png": b"\x89PNG\r\n\x1a\n" + GARBAGE}))),
        [str(d / "folder" / "img.png"), "unsupported file type .png"],
    ),
    "add folder of bad files": lambda d, k: (
        _add(str(_dir(d, {"e.md": b"", "w.txt": b" \n\t\n"}))),
        [str(d / "folder"), "nothing added, 2 files skipped"],
    ),
    "add empty file": lambda d, k: (_add(str(_file(d, "e.md", b""))), ["e.md", "empty file"]),
    "add whitespace only": lambda d, k: (
        _add(str(_file(d, "w.txt", b"  \n\n\t \n"))), ["w.txt", "no text"]
    ),
    "add binary garbage": lambda d, k: (
        _add(str(_file(d, "garbage.txt", GARBAGE))), ["garbage.txt", "binary file"]
    ),
    "add latin-1 text": lambda d, k: (
        _add(str(_file(d, "latin1.txt", "Grüße aus München".encode("latin-1")))),
        ["latin1.txt", "not UTF-8 text"],
    ),
    "add huge file": lambda d, k: (_add(str(_huge(d))), ["huge.md", "file too large"]),
    "add corrupt pdf": lambda d, k: (
        _add(str(_file(d, "broken.pdf", b"%PDF-1.7\n" + GARBAGE))), ["broken.pdf", "PDF"]
    ),
    "add pdf without header": lambda d, k: (
        _add(str(_file(d, "fake.pdf", b"just text pretending\n"))), ["fake.pdf", "not a PDF"]
    ),
    "add encrypted pdf": lambda d, k: (
        _add(str(make_pdf(d / "locked.pdf", ["Launch codes"], password="hunter2"))),
        ["locked.pdf", "encrypted PDF"],
    ),
    "add corrupt docx": lambda d, k: (
        _add(str(_file(d, "report.docx", b"PK\x03\x04" + GARBAGE))), ["report.docx", "binary file"]
    ),
    "add dangling symlink": lambda d, k: (_add(str(_link(d))), ["dangling.md", "unreadable"]),
    "add fifo": lambda d, k: (_add(str(_fifo(d))), ["pipe.md", "not a regular file"]),
    "add unreadable file": lambda d, k: (
        _add(str(_unreadable(d))), ["secret.md", "Permission denied"]
    ),
    "add name ../x": lambda d, k: (
        _add(str(_file(d, "ok.md", b"fine\n")), "--name", "../x"), ["--name", "'../x'"]
    ),
    "add empty name": lambda d, k: (
        _add(str(_file(d, "ok.md", b"fine\n")), "--name", ""), ["--name", "''"]
    ),
    "add name with slash": lambda d, k: (
        _add(str(_file(d, "ok.md", b"fine\n")), "--name", "a/b"), ["--name", "'a/b'"]
    ),
    "add other embedder": lambda d, k: (
        _add(str(_file(d, "ok.md", b"fine\n")), "--embedder", str(d / "no-model")),
        [str(d / "no-model"), "built with embedder"],
    ),
    "add --home is a file": lambda d, k: (
        _add(str(_file(d, "ok.md", b"fine\n")), "--home", str(_file(d, "home", b"x"))),
        ["--home", str(d / "home"), "not a directory"],
    ),
    "list --home is a file": lambda d, k: (
        ["corpus", "list", "--home", str(_file(d, "home", b"x"))],
        ["--home", str(d / "home"), "not a directory"],
    ),
    "remove /": lambda d, k: (["corpus", "remove", "/"], ["/:", "filesystem root"]),
    "remove //": lambda d, k: (["corpus", "remove", "//"], ["//:", "filesystem root"]),
    "remove empty": lambda d, k: (["corpus", "remove", ""], ["remove", "empty"]),
    "remove unknown corpus": lambda d, k: (["corpus", "remove", "nosuch"], ["nosuch", "no corpus"]),
    "remove partial component": lambda d, k: (
        ["corpus", "remove", str(k / "doc")], [str(k / "doc"), "no corpus"]
    ),
    "remove LIKE _ wildcard": lambda d, k: (
        ["corpus", "remove", str(k / "a__b")], ["a__b", "no corpus"]
    ),
    "remove LIKE % wildcard": lambda d, k: (
        ["corpus", "remove", str(k / "a%")], ["a%", "no corpus"]
    ),
    "remove other case": lambda d, k: (
        ["corpus", "remove", str(k / "DOCS")], ["DOCS", "no corpus"]
    ),
    "query empty": lambda d, k: (["corpus", "query", ""], ["query", "empty"]),
    "query blank": lambda d, k: (["corpus", "query", "   "], ["query", "empty"]),
    "query k=0": lambda d, k: (["corpus", "query", "ferry", "--top", "0"], ["--top", "greater than or equal to 1"]),
    "query k=-1": lambda d, k: (["corpus", "query", "ferry", "-k", "-1"], ["--top", "greater than or equal to 1"]),
    "query bad mode": lambda d, k: (["corpus", "query", "ferry", "--mode", "fuzzy"], ["--mode fuzzy"]),
    "query with a reranker that cannot load": lambda d, k: (
        ["corpus", "query", "ferry"], ["rerank model", str(d / "no-reranker"), "cannot load"],
        {"STEPVOX_RERANKER": str(d / "no-reranker")},  # the setting reaches the store
    ),
    "query unknown corpus": lambda d, k: (
        ["corpus", "query", "ferry", "--name", "nosuch"], ["--name nosuch", "no such corpus"]
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_corpus(case: str, template, tmp_path: Path, forkserver) -> None:
    if case == "add unreadable file" and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    src_home, kb = template
    home = tmp_path / "home"
    shutil.copytree(src_home, home)
    d = tmp_path / "in"
    d.mkdir()
    argv, expected, *env = CASES[case](d, kb)
    if "--home" not in argv:
        argv = [*argv, "--home", str(home)]
    before = store_digest(home)
    rc, child = forkserver.run(argv, env=env[0] if env else None, timeout=120)
    err = child.stderr
    assert rc == 2, (rc, err, child.stdout)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in expected:
        assert part in lines[0], (part, lines[0])
    assert store_digest(home) == before
