"""The issue's accuracy test on 60 real LibriSpeech readers: enroll the first half of each
recording, query with the second half (unseen audio); estimated gender vs SPEAKERS.TXT."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.voices.conftest import speakers
from voices import VoiceLibrary


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory, libri_halves):
    first, _ = libri_halves
    lib = VoiceLibrary(tmp_path_factory.mktemp("lib"))
    report = lib.import_dir(first)
    yield lib, report
    lib.close()


def test_import_all_readers(enrolled, libri_files):
    lib, report = enrolled
    assert report["failed"] == []
    assert len(report["added"]) == len(libri_files) == lib.count() == 60


def test_top1_speaker_accuracy_on_unseen_halves(enrolled, libri_halves):
    lib, _ = enrolled
    _, second = libri_halves
    files = sorted(second.glob("*.flac"))
    correct = 0
    for f in files:
        hits = lib.search(audio=[f], top_k=1)
        correct += hits[0].name == f.stem
    acc = correct / len(files)
    print(
        f"\ntop-1 speaker accuracy (enroll first half, query second half): {acc:.3f} ({correct}/{len(files)})"
    )
    assert acc >= 0.9


def test_estimated_gender_matches_speakers_txt(enrolled):
    lib, _ = enrolled
    truth = speakers()
    voices = lib.list()
    ok = sum(v.gender == truth[v.name.split("-")[0]] for v in voices)
    acc = ok / len(voices)
    print(f"\nestimated gender vs SPEAKERS.TXT (first halves): {acc:.3f} ({ok}/{len(voices)})")
    assert all(v.gender_source == "estimated" for v in voices)
    assert acc >= 0.9


def test_text_search_uses_estimated_attributes(enrolled):
    """No voice here has a description: a request for a woman / a low male voice must still
    return voices whose estimated attributes fit."""
    lib, _ = enrolled
    truth = speakers()
    women = lib.search(text="a cheerful young woman", top_k=5)
    men = lib.search(text="calm older man, low voice", top_k=5)
    assert sum(truth[h.name.split("-")[0]] == "female" for h in women) >= 4
    assert sum(truth[h.name.split("-")[0]] == "male" for h in men) >= 4
    assert all(h.attributes["pitch"] == "low" for h in men)


def test_filters_restrict_audio_search(enrolled, libri_halves):
    lib, _ = enrolled
    _, second = libri_halves
    f = Path(sorted(second.glob("*.flac"))[0])
    hits = lib.search(audio=[f], filters={"gender": "male"}, top_k=10)
    assert hits and all(h.attributes["gender"] == "male" for h in hits)
