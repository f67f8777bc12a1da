"""Reliability: SIGKILL in the middle of an import (a real subprocess), readers during an
import, a damaged index file, bad files in an import."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from voices import VoiceLibrary
from voices import index as vindex
from voices.embedders import TEXT_SPACE

ROOT = Path(__file__).resolve().parents[2]

IMPORTER = """
import sys, torch
torch.set_num_threads(1)
from voices import VoiceLibrary
lib = VoiceLibrary(sys.argv[1])
lib.import_dir(sys.argv[2], checkpoint_every=3)
lib.close()
"""


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory, libri_files) -> Path:
    """16 short real clips (4 s from 16 readers) plus one damaged file."""
    d = tmp_path_factory.mktemp("clips")
    for f in libri_files[:16]:
        y, sr = sf.read(f, dtype="float32")
        sf.write(d / f"{f.stem}.wav", y[: 4 * sr], sr)
    (d / "zz-broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return d


def _count(root: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{root / 'library.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM voices").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _index_ids(lib: VoiceLibrary, space: str) -> set[int]:
    import faiss

    st = lib.indexes.ensure(space)
    return set(faiss.vector_to_array(st.index.id_map).tolist())


def test_sigkill_mid_import_leaves_consistent_library(tmp_path, clip_dir):
    root = tmp_path / "lib"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", IMPORTER, str(root), str(clip_dir)], env=env, cwd=ROOT
    )
    reader_results = []
    try:
        deadline = time.time() + 240
        while _count(root) < 5 and time.time() < deadline and proc.poll() is None:
            # a reader in this process keeps working while the import writes
            if _count(root) >= 1:
                with VoiceLibrary(root) as reader:
                    reader_results.append(len(reader.search(filters={"min_duration": 0}, top_k=50)))
            time.sleep(0.2)
        assert proc.poll() is None, "import finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert reader_results and all(n >= 1 for n in reader_results)
    committed = _count(root)
    assert 5 <= committed < 16

    lib = VoiceLibrary(root)  # recovery: drops audio copies no committed row points to
    rowids = {r[0] for r in lib.store.db.execute("SELECT rowid FROM voices")}
    assert _index_ids(lib, lib.speaker_space) == rowids
    assert _index_ids(lib, TEXT_SPACE) == rowids
    stored = {p.stem for p in (root / "audio").rglob("*.flac")}
    assert stored == {v.content_hash for v in lib.list()}
    assert not list((root / "audio").rglob(".tmp-*"))
    for v in lib.list()[:3]:  # committed voices are found by their own audio
        assert lib.search(audio=[v.audio_path], top_k=1)[0].id == v.id
    lib.close()

    # resume: the rest is imported, nothing twice, the bad file skipped with its reason
    with VoiceLibrary(root) as lib:
        rep = lib.import_dir(clip_dir)
        assert rep["already_imported"] == committed
        assert len(rep["added"]) == 16 - committed
        assert [Path(f["path"]).name for f in rep["failed"]] == ["zz-broken.wav"]
        assert "zz-broken.wav" in rep["failed"][0]["reason"]
        assert lib.count() == 16
        assert len(_index_ids(lib, lib.speaker_space)) == 16


def test_corrupt_index_is_detected_and_rebuilt(tmp_path, clip_dir):
    root = tmp_path / "lib"
    files = sorted(clip_dir.glob("*.wav"))[:3]
    with VoiceLibrary(root) as lib:
        for f in files:
            lib.add(f)
        lib.search(audio=[files[0]], top_k=1)
    idx = root / "index" / "speaker-resemblyzer.faiss"
    assert idx.exists()
    data = bytearray(idx.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)
    idx.write_bytes(bytes(data))
    with VoiceLibrary(root) as lib:
        hits = lib.search(audio=[files[1]], top_k=1)
        assert hits[0].name == files[1].stem
        assert any("rebuilt" in e and "checksum" in e for e in lib.index_events)
    # garbage header, missing index file: also rebuilt
    text_idx = root / "index" / "text-minilm.faiss"
    text_idx.write_bytes(vindex.MAGIC + (9).to_bytes(8, "little") + b"{not json")
    idx.unlink()
    with VoiceLibrary(root) as lib:
        assert lib.search(text="a voice", top_k=3)
        assert lib.search(audio=[files[2]], top_k=1)[0].name == files[2].stem
    with VoiceLibrary(root) as lib:
        rep = lib.rebuild_index()
        assert rep["indexes"][lib.speaker_space] == {"kind": "flat", "vectors": 3}


def test_index_follows_writes_from_another_process(tmp_path, clip_dir):
    """A reader opened before another writer added voices sees them on its next search."""
    root = tmp_path / "lib"
    files = sorted(clip_dir.glob("*.wav"))[:3]
    reader = VoiceLibrary(root)
    writer = VoiceLibrary(root)
    writer.add(files[0])
    assert [h.name for h in reader.search(audio=[files[0]], top_k=5)] == [files[0].stem]
    writer.add(files[1])
    assert reader.search(audio=[files[1]], top_k=1)[0].name == files[1].stem
    writer.remove(files[0].stem)
    assert [h.name for h in reader.search(audio=[files[0]], top_k=5)] == [files[1].stem]
    writer.close()
    reader.close()
