"""Bad input to `stepvox voices import|add|import-archive|search|...`: exit 2, one line on stderr
naming the input, the library unchanged (digest of its database and files before and after),
and nothing written outside the library (crafted archives aim at a folder beside it)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.voices import archives
from tests.voices.helpers import library_digest, run_cli


@dataclass
class Ctx:
    tmp: Path  # this case's own folder
    lib: Path  # the library (one voice, not in the archive)
    outside: Path  # where a traversal would land
    arch: Path  # a good archive of three other voices
    clip: Path  # a good clip not in the library
    stored_clip: Path  # the clip of the voice in the library


def _wav(path: Path, y: np.ndarray, sr: int = 16000) -> Path:
    sf.write(path, y.astype(np.float32), sr)
    return path


# -- each case: (argv after `voices`, the input the error line must name) ------------------------
def add_missing(c: Ctx):
    return ["add", str(c.tmp / "nope.wav")], "nope.wav"


def add_corrupt(c: Ctx):
    p = c.tmp / "corrupt.wav"
    p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    return ["add", str(p)], "corrupt.wav"


def add_zero_length(c: Ctx):
    return ["add", str(_wav(c.tmp / "empty.wav", np.zeros(0)))], "empty.wav"


def add_too_long(c: Ctx):
    y = 0.1 * np.sin(np.arange(601 * 8000) * 0.3)  # 601 s at 8 kHz, over the 600 s limit
    return ["add", str(_wav(c.tmp / "long.wav", y, 8000))], "long.wav"


def add_silence(c: Ctx):
    return ["add", str(_wav(c.tmp / "silence.wav", np.zeros(3 * 16000)))], "silence.wav"


def add_not_audio(c: Ctx):
    p = c.tmp / "notes.txt"
    p.write_text("these are not the sounds you are looking for\n" * 20)
    return ["add", str(p)], "notes.txt"


def add_duplicate(c: Ctx):
    return ["add", str(c.stored_clip), "--name", "again"], c.stored_clip.name


def add_bad_gender(c: Ctx):
    return ["add", str(c.clip), "--gender", "robot"], "robot"


def import_missing_folder(c: Ctx):
    return ["import", str(c.tmp / "no-such-dir")], "no-such-dir"


def import_a_file(c: Ctx):
    return ["import", str(c.clip)], c.clip.name


def import_no_audio(c: Ctx):
    d = c.tmp / "docs"
    d.mkdir()
    (d / "readme.txt").write_text("hello")
    return ["import", str(d)], "docs"


def import_only_bad_files(c: Ctx):
    d = c.tmp / "bad-folder"
    d.mkdir()
    (d / "broken.flac").write_bytes(b"fLaC-not-really")
    _wav(d / "quiet.wav", np.zeros(2 * 16000))
    _wav(d / "empty.wav", np.zeros(0))
    return ["import", str(d)], "bad-folder"


def import_bad_threshold(c: Ctx):
    d = c.tmp / "in"
    d.mkdir()
    shutil.copy(c.clip, d / c.clip.name)
    return ["import", str(d), "--same-speaker-threshold", "nan"], "--same-speaker-threshold"


def search_bad_k(c: Ctx):
    return ["search", "--text", "a calm voice", "--k", "0"], "--top"


def search_negative_top(c: Ctx):
    return ["search", "--text", "a calm voice", "--top", "-5"], "--top"


def search_missing_audio(c: Ctx):
    return ["search", "--audio", str(c.tmp / "who.wav")], "who.wav"


def search_corrupt_audio(c: Ctx):
    p = c.tmp / "who.flac"
    p.write_bytes(b"fLaC" + bytes(500))
    return ["search", "--audio", str(p)], "who.flac"


def search_unknown_filter(c: Ctx):
    return ["search", "--text", "x", "--filter", "colour=red"], "colour"


def search_bad_duration_filter(c: Ctx):
    return ["search", "--filter", "min_duration=long"], "min_duration"


def show_unknown_voice(c: Ctx):
    return ["show", "vdeadbeef000"], "vdeadbeef000"


def remove_unknown_voice(c: Ctx):
    return ["remove", "nobody"], "nobody"


def tag_unknown_voice(c: Ctx):
    return ["tag", "nobody", "--add", "x"], "nobody"


def dedupe_bad_threshold(c: Ctx):
    return ["dedupe", "--threshold", "7"], "--threshold"


def archive_missing(c: Ctx):
    return ["import-archive", str(c.tmp / "none.tar")], "none.tar"


def _arch(c: Ctx, name: str, **kw) -> Path:
    return archives.craft(c.arch, c.tmp / name, **kw)


def archive_hash_is_a_path(c: Ctx):
    """The reported attack: content_hash names a path outside the library."""
    target = str(c.outside / "pwned")

    def evil(man):
        man["voices"][0]["voice"]["content_hash"] = target

    return ["import-archive", str(_arch(c, "hash-path.tar", manifest=evil))], "hash-path.tar"


def archive_hash_traversal(c: Ctx):
    def evil(man):
        man["voices"][0]["voice"]["content_hash"] = "../../../../../../../" + str(
            c.outside / "pwned"
        )

    return ["import-archive", str(_arch(c, "hash-dots.tar", manifest=evil))], "hash-dots.tar"


def archive_traversal_member(c: Ctx):
    rel = "../" * 12 + str(c.outside / "pwned.flac").lstrip("/")
    extra = [(archives.member(rel, b"x" * 10), b"x" * 10)]
    return ["import-archive", str(_arch(c, "dots.tar", extra=extra))], "dots.tar"


def archive_absolute_member(c: Ctx):
    extra = [(archives.member(str(c.outside / "pwned.flac"), b"x"), b"x")]
    return ["import-archive", str(_arch(c, "abs.tar", extra=extra))], "abs.tar"


def archive_symlink(c: Ctx):
    man, _ = archives.read(c.arch)
    name = man["voices"][0]["audio"]
    link = archives.member(name, kind="symlink", link=str(c.outside / "pwned"))
    p = _arch(c, "symlink.tar", drop=(name,), extra=[(link, b"")])
    return ["import-archive", str(p)], "symlink.tar"


def archive_hardlink(c: Ctx):
    man, _ = archives.read(c.arch)
    name = man["voices"][1]["audio"]
    link = archives.member(name, kind="hardlink", link="/etc/passwd")
    p = _arch(c, "hardlink.tar", drop=(name,), extra=[(link, b"")])
    return ["import-archive", str(p)], "hardlink.tar"


def archive_device(c: Ctx):
    dev = archives.member("audio/" + "0" * 64 + ".flac", kind="chr")
    return ["import-archive", str(_arch(c, "device.tar", extra=[(dev, b"")]))], "device.tar"


def archive_bad_audio_hash(c: Ctx):
    man, members = archives.read(c.arch)
    name = man["voices"][2]["audio"]
    data = members[name][:-10] + b"0123456789"
    return ["import-archive", str(_arch(c, "tampered.tar", replace={name: data}))], "tampered.tar"


def archive_bad_manifest_hash(c: Ctx):
    def edit(man):
        man["voices"][0]["voice"]["name"] = "Mallory"

    p = _arch(c, "manifest-edited.tar", manifest=edit, rehash=False)
    return ["import-archive", str(p)], "manifest-edited.tar"


def archive_flac_bomb(c: Ctx):
    """A few KB of FLAC that decodes to minutes of 8-channel audio, under its entry's rate and a
    matching sha256: refused from the header, never decoded (found by the security review)."""
    man, _ = archives.read(c.arch)
    entry = man["voices"][0]
    buf = io.BytesIO()
    sr = entry["voice"]["sample_rate"]
    sf.write(buf, np.zeros((sr * 120, 8), dtype="float32"), sr, format="FLAC")
    bomb = buf.getvalue()
    name = entry["audio"]

    def edit(m):
        m["voices"][0]["sha256"] = hashlib.sha256(bomb).hexdigest()

    p = _arch(c, "flac-bomb.tar", manifest=edit, replace={name: bomb})
    return ["import-archive", str(p)], "flac-bomb.tar"


def archive_truncated(c: Ctx):
    p = c.tmp / "truncated.tar"
    data = c.arch.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.6)])
    return ["import-archive", str(p)], "truncated.tar"


def archive_manifest_not_json(c: Ctx):
    p = _arch(c, "notjson.tar", replace={"manifest.json": b"{voices: [oops"})
    return ["import-archive", str(p)], "notjson.tar"


def archive_gzip_bomb(c: Ctx):
    p = c.tmp / "bomb.tar.gz"
    with gzip.open(p, "wb", compresslevel=9) as f:
        f.write(bytes(64 << 20))  # 64 MiB of zeros in ~64 KB
    return ["import-archive", str(p)], "bomb.tar.gz"


def archive_zip_traversal(c: Ctx):
    p = c.tmp / "evil.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("../../" + str(c.outside / "pwned.flac").lstrip("/"), b"x")
        z.writestr("manifest.json", "{}")
    return ["import-archive", str(p)], "evil.zip"


def archive_oversized_member(c: Ctx):
    info = archives.member("audio/" + "a" * 64 + ".flac")
    info.size = 1 << 40  # a header that claims a terabyte
    p = c.tmp / "huge.tar"
    p.write_bytes(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024))
    return ["import-archive", str(p)], "huge.tar"


def archive_bad_embedding(c: Ctx):
    def evil(man):
        man["voices"][0]["embeddings"]["speaker:resemblyzer"] = "00" * 40  # 10 zeros

    return ["import-archive", str(_arch(c, "embedding.tar", manifest=evil))], "embedding.tar"


def archive_id_mismatch(c: Ctx):
    def evil(man):
        man["voices"][1]["voice"]["id"] = "v00000000000"

    return ["import-archive", str(_arch(c, "id.tar", manifest=evil))], "id.tar"


def archive_unlisted_member(c: Ctx):
    extra = [(archives.member("audio/" + "b" * 64 + ".flac", b"x"), b"x")]
    return ["import-archive", str(_arch(c, "unlisted.tar", extra=extra))], "unlisted.tar"


def archive_wrong_format(c: Ctx):
    def edit(man):
        man["format"] = "someone-else/9"

    return ["import-archive", str(_arch(c, "format.tar", manifest=edit))], "format.tar"


def archive_not_an_archive(c: Ctx):
    p = c.tmp / "voices.tar"
    p.write_text(json.dumps({"format": "stepvox-voices/1"}))
    return ["import-archive", str(p)], "voices.tar"


CASES: list[Callable[[Ctx], tuple[list[str], str]]] = [
    add_missing,
    add_corrupt,
    add_zero_length,
    add_too_long,
    add_silence,
    add_not_audio,
    add_duplicate,
    add_bad_gender,
    import_missing_folder,
    import_a_file,
    import_no_audio,
    import_only_bad_files,
    import_bad_threshold,
    search_bad_k,
    search_negative_top,
    search_missing_audio,
    search_corrupt_audio,
    search_unknown_filter,
    search_bad_duration_filter,
    show_unknown_voice,
    remove_unknown_voice,
    tag_unknown_voice,
    dedupe_bad_threshold,
    archive_missing,
    archive_hash_is_a_path,
    archive_hash_traversal,
    archive_traversal_member,
    archive_absolute_member,
    archive_symlink,
    archive_hardlink,
    archive_device,
    archive_bad_audio_hash,
    archive_bad_manifest_hash,
    archive_flac_bomb,
    archive_truncated,
    archive_manifest_not_json,
    archive_gzip_bomb,
    archive_zip_traversal,
    archive_oversized_member,
    archive_bad_embedding,
    archive_id_mismatch,
    archive_unlisted_member,
    archive_wrong_format,
    archive_not_an_archive,
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, small_clips, archived_library):
    """A library holding one voice (not one of the archive's), searched once so its indexes
    are on disk, and a folder beside it where traversals would land."""
    base = tmp_path_factory.mktemp("bad-input")
    lib = base / "lib"
    p = run_cli("voices", "add", str(small_clips[1]), "--name", "Dora", "--library", str(lib))
    assert p.returncode == 0, p.stderr
    p = run_cli("voices", "search", "--text", "a voice", "--library", str(lib))
    assert p.returncode == 0, p.stderr
    (base / "outside").mkdir()
    return base, lib, archived_library[1], small_clips


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_exit_2_one_line_library_unchanged(case, world, tmp_path):
    base, lib, arch, clips = world
    ctx = Ctx(
        tmp=tmp_path,
        lib=lib,
        outside=base / "outside",
        arch=arch,
        clip=clips[3],
        stored_clip=clips[1],
    )
    argv, named = case(ctx)
    before = library_digest(lib)
    around = sorted(str(p) for p in base.rglob("*") if not p.is_relative_to(lib))
    p = run_cli("voices", *argv, "--library", str(lib))
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stdout[-500:], p.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert named in lines[0], lines[0]
    assert "Traceback" not in p.stderr
    assert library_digest(lib) == before
    assert sorted(str(p) for p in base.rglob("*") if not p.is_relative_to(lib)) == around
    assert list(ctx.outside.iterdir()) == []
    assert not any("pwned" in q.name for q in lib.rglob("*"))
