"""The docs a user of the repository reads point only at what the repository holds."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_docs_do_not_point_outside_the_repository():
    outside = re.compile(r"\.\./shared|\bDESIGN\.md\b|\bREFERENCE\.md\b")
    bad = [f"{p.relative_to(ROOT)}:{i}" for p in DOCS for i, line in enumerate(p.read_text().splitlines(), 1)
           if outside.search(line)]
    assert not bad, f"docs point at files users do not have: {bad}"


def test_relative_links_resolve():
    link = re.compile(r"\]\(((?!https?:|#|mailto:)[^)#\s]+)")
    broken = [f"{p.relative_to(ROOT)} -> {m}" for p in DOCS for m in link.findall(p.read_text())
              if not (p.parent / m).exists()]
    assert not broken, broken
