"""Reliability: a damaged index file, a reader following another writer's changes (SIGKILL
during imports: test_kill_voices.py; concurrent writers: test_concurrent_voices.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import soundfile as sf

from voices import VoiceLibrary
from voices import index as vindex

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory, libri_files) -> Path:
    """Three short real clips (4 s of three readers)."""
    d = tmp_path_factory.mktemp("clips")
    for f in libri_files[:3]:
        y, sr = sf.read(f, dtype="float32")
        sf.write(d / f"{f.stem}.wav", y[: 4 * sr], sr)
    return d


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
