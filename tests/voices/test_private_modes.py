"""A voice library is private: directories 0700, database/index/audio/lock files 0600 (under a
permissive umask), and a library an older version left world-readable is tightened on open."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from voices import VoiceLibrary
from voices.archive import export_archive


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_library_files_are_private(tmp_path, small_clips, open_umask):
    root = tmp_path / "home" / "voices"  # neither folder exists yet
    with VoiceLibrary(root) as lib:
        lib.add(small_clips[0])
        lib.search(audio=[small_clips[0]], top_k=1)  # index files written
        export_archive(lib, tmp_path / "out" / "voices.tar")
    dirs = [root.parent, root, *[p for p in root.rglob("*") if p.is_dir()]]
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"library.sqlite", ".lock", "speaker-resemblyzer.faiss"}
    assert any(p.suffix == ".flac" for p in files)
    assert {str(p): _mode(p) for p in dirs} == {str(p): 0o700 for p in dirs}
    assert {str(p): _mode(p) for p in files} == {str(p): 0o600 for p in files}
    assert _mode(tmp_path / "out" / "voices.tar") == 0o600


def test_older_world_readable_library_is_tightened(tmp_path, small_clips, open_umask):
    root = tmp_path / "lib"
    with VoiceLibrary(root) as lib:
        lib.add(small_clips[2])
    for p in (root / "audio", root / "index"):
        os.chmod(p, 0o755)
    os.chmod(root / "library.sqlite", 0o644)
    VoiceLibrary(root).close()
    assert _mode(root / "audio") == _mode(root / "index") == 0o700
    assert _mode(root / "library.sqlite") == 0o600
