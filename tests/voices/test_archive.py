"""`voices export` / `import-archive`: voices keep their ids, attributes and embeddings; the
archived embeddings are reused (no speaker model runs); limits on members and sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.voices import archives
from voices import VoiceLibrary
from voices.archive import ArchiveError, import_archive
from voices.archive_reader import Limits
from voices.embedders import TEXT_SPACE


def _state(lib: VoiceLibrary) -> dict[str, tuple]:
    out = {}
    for v in lib.list():
        row = lib.store.row("id=?", (v.id,))
        vecs = {
            s: lib.store.embeddings(s, rowids=[row["rowid"]])[1][0]
            for s in (lib.speaker_space, TEXT_SPACE)
        }
        attrs = v.model_dump(mode="json", exclude={"audio_path"})
        out[v.id] = (attrs, vecs)
    return out


def test_import_keeps_ids_attributes_embeddings_without_running_a_model(archived_library, tmp_path):
    src_root, arch = archived_library
    with VoiceLibrary(src_root) as src:
        want = _state(src)
        probe = src.list()[1]
    with VoiceLibrary(tmp_path / "copy") as lib:
        rep = import_archive(lib, arch)
        assert sorted(a["id"] for a in rep["added"]) == sorted(want)
        assert rep["failed"] == [] and rep["total"] == 3
        assert lib._speaker is None  # the archived speaker vectors were used as they are
        got = _state(lib)
        assert sorted(got) == sorted(want)
        for vid, (attrs, vecs) in want.items():
            assert got[vid][0] == attrs
            for s, vec in vecs.items():
                np.testing.assert_array_equal(got[vid][1][s], vec)
        copied = Path(lib.get(probe.id).audio_path)
        assert copied.is_relative_to(tmp_path / "copy")
        assert copied.read_bytes() == Path(probe.audio_path).read_bytes()
        # indexes hold every voice; search by audio finds the same voice
        assert lib.indexes.ensure(lib.speaker_space).ntotal == 3
        assert lib.search(audio=[probe.audio_path], top_k=1)[0].id == probe.id
        again = import_archive(lib, arch)
        assert again["added"] == [] and again["already_present"] == 3


def test_archive_into_a_library_of_another_speaker_model(archived_library, tmp_path):
    """Archived resemblyzer vectors are of no use to a CAM++ library: computed from the audio."""
    pytest.importorskip("onnx")
    from tests.voices.test_campplus import tiny_campplus

    t2w = tmp_path / "token2wav"
    t2w.mkdir()
    tiny_campplus(t2w / "campplus.onnx")
    with VoiceLibrary(tmp_path / "cam", token2wav_dir=t2w) as lib:
        rep = import_archive(lib, archived_library[1])
        assert len(rep["added"]) == 3
        assert lib.store.missing_embeddings("speaker:campplus") == []
        v = lib.list()[0]
        assert lib.search(audio=[v.audio_path], top_k=1)[0].id == v.id


def test_member_and_size_limits(archived_library, tmp_path):
    arch = archived_library[1]
    lib = VoiceLibrary(tmp_path / "lib")
    with pytest.raises(ArchiveError, match="more than 4 members"):
        import_archive(lib, arch, Limits(members=4))
    with pytest.raises(ArchiveError, match=r"manifest.json.*limit 100"):
        import_archive(lib, arch, Limits(manifest_bytes=100))
    with pytest.raises(ArchiveError, match=r"audio/.*limit 1000\)"):
        import_archive(lib, arch, Limits(audio_bytes=1000))
    # the same audio listed twice
    twice = archives.craft(
        arch, tmp_path / "twice.tar", manifest=lambda m: m["voices"].append(m["voices"][0])
    )
    with pytest.raises(ArchiveError, match="listed twice"):
        import_archive(lib, twice)
    assert lib.count() == 0 and not any((tmp_path / "lib" / "audio").rglob("*.flac"))
    lib.close()
