"""VoiceLibrary API on real clips: add/get/find, duplicates, text + filter search, curation."""

from __future__ import annotations

from pathlib import Path

import pytest

from voices import AudioError, DuplicateVoice, Voice, VoiceHit, VoiceLibrary
from voices.archive import export_archive, import_archive
from voices.curation import check, dedupe


def test_empty_library_searches_fine(tmp_path):
    lib = VoiceLibrary(tmp_path / "lib")
    assert lib.count() == 0
    assert lib.search(text="a calm voice") == []
    assert lib.search(text="x", filters={"gender": "male"}) == []
    assert lib.get("nope") is None and lib.find_by_name("nope") is None
    assert (tmp_path / "lib" / "library.sqlite").exists()


@pytest.fixture(scope="module")
def lib(tmp_path_factory, small_clips):
    lib = VoiceLibrary(tmp_path_factory.mktemp("lib"))
    lib.add(
        small_clips[0],
        name="Ada",
        tags=["narrator"],
        description="a cheerful young woman, bright and warm",
        style="cheerful",
        age_band="young",
        gender="female",
    )
    lib.add(
        small_clips[2],
        name="Bob",
        description="calm older man with a deep low voice",
        style="calm",
        age_band="older",
        gender="male",
    )
    lib.add(small_clips[4], name="Cleo")
    yield lib
    lib.close()


def test_add_stores_normalized_copy_and_attributes(lib, small_clips):
    v = lib.find_by_name("ADA")
    assert (
        isinstance(v, Voice)
        and v.name == "Ada"
        and v.gender == "female"
        and v.gender_source == "given"
    )
    assert Path(v.audio_path).is_absolute() and Path(v.audio_path).is_file()
    assert v.content_hash in v.audio_path and v.duration_s > 1 and v.sample_rate == 16000
    assert v.median_f0_hz and 60 < v.median_f0_hz < 400
    assert v.speaking_rate and 0.5 < v.speaking_rate < 10
    assert v.quality.verdict in {"good", "fair", "poor"} and v.quality.snr_db is not None
    assert lib.get(v.id) == v and lib.count() == 3
    cleo = lib.find_by_name("cleo")
    assert cleo.gender_source == "estimated" and cleo.gender in {"female", "male"}


def test_duplicate_audio_is_refused(lib, small_clips, tmp_path):
    import soundfile as sf

    y, sr = sf.read(small_clips[0], dtype="float32")
    copy = tmp_path / "same.flac"
    sf.write(copy, y, sr, subtype="PCM_16")  # same samples, another container
    with pytest.raises(DuplicateVoice, match="Ada"):
        lib.add(copy)


def test_bad_file_raises_clear_error(lib, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    with pytest.raises(AudioError, match="bad.wav"):
        lib.add(bad)
    with pytest.raises(AudioError, match="no such file"):
        lib.add(tmp_path / "missing.wav")


def test_audio_search_finds_same_speaker(lib, small_clips):
    hits = lib.search(audio=[small_clips[1]], top_k=3)
    assert isinstance(hits[0], VoiceHit) and hits[0].name == "Ada"
    assert hits[0].score > hits[1].score
    assert hits[0].attributes["audio_path"].endswith(".flac")


def test_text_search_by_description_and_attributes(lib):
    assert lib.search(text="a cheerful young woman", top_k=1)[0].name == "Ada"
    assert lib.search(text="calm older man, low voice", top_k=1)[0].name == "Bob"
    hits = lib.search(text="cheerful", filters={"style": "calm"}, top_k=5)
    assert [h.name for h in hits] == ["Bob"]
    assert [h.name for h in lib.search(filters={"tag": "narrator"})] == ["Ada"]


def test_combined_search(lib, small_clips):
    hits = lib.search(text="a woman", audio=[small_clips[1]], top_k=3)
    assert hits[0].name == "Ada"


def test_unknown_filter_is_an_error(lib):
    with pytest.raises(ValueError, match="colour"):
        lib.search(text="x", filters={"colour": "red"})


def test_update_tags_and_description(lib):
    v = lib.update(
        "Cleo", add_tags=["bright", "test"], description="a whispery storyteller", style="whisper"
    )
    assert set(v.tags) == {"bright", "test"} and v.style == "whisper"
    v = lib.update(v.id, remove_tags=["test"])
    assert v.tags == ["bright"]
    assert lib.search(text="whispery storyteller", top_k=1)[0].name == "Cleo"


def test_dedupe_check_export_import_remove(lib, small_clips, tmp_path):
    # a second clip of Ada's reader -> one cluster with her
    extra = lib.add(small_clips[1], name="Ada-2")
    rep = dedupe(lib, threshold=0.75)
    assert any({"Ada", "Ada-2"} <= set(c["names"]) for c in rep["clusters"])
    report = check(lib)
    assert report["voices"] == 4 and not report["integrity"]["missing_audio"]
    arch = tmp_path / "voices.tar"
    assert export_archive(lib, arch)["voices"] == 4
    other = VoiceLibrary(tmp_path / "other")
    res = import_archive(other, arch)
    assert len(res["added"]) == 4 and res["failed"] == []
    assert other.find_by_name("Ada").description.startswith("a cheerful")
    assert other.find_by_name("Ada").gender_source == "given"
    again = import_archive(other, arch)
    assert again["added"] == [] and again["already_present"] == 4
    # a tampered archive is refused before anything is added
    import tarfile

    bad = tmp_path / "bad.tar"
    with tarfile.open(arch) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.startswith("audio/") and m.name.endswith(".flac"):
                data = data[:-10] + b"0123456789"
            import io

            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        import_archive(VoiceLibrary(tmp_path / "third"), bad)
    removed = lib.remove(extra.id)
    assert not Path(removed.audio_path).exists() and lib.get(extra.id) is None
    assert all(h.id != extra.id for h in lib.search(audio=[small_clips[1]], top_k=5))
    other.close()


def test_described_gender_beats_f0_estimate(tmp_path, libri_files):
    """Reader 118 is a man with a ~200 Hz voice: F0 says female, his description says male."""
    clip = next(f for f in libri_files if f.name.startswith("118-"))
    lib = VoiceLibrary(tmp_path / "lib")
    bruno = lib.add(clip, name="Bruno", description="a calm male narrator")
    assert bruno.gender == "male" and bruno.gender_source == "description"
    assert bruno.extra["gender_estimated"] == "female"
    assert lib.search(text="a calm male voice", top_k=1)[0].name == "Bruno"
    v = lib.update("Bruno", description="a calm narrator")
    assert v.gender_source == "estimated" and v.gender == "female"
    lib.close()
