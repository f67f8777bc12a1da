"""Reading an untrusted voice archive (format `stepvox-voices/1`, see `voices.archive`) and
checking all of it before anything is written.

Every member: a regular file (no links, devices, folders other than `audio`), a name of the
expected form (so no absolute path and no `..`), a size under the limits, listed once. The
manifest: against its checksum, then field by field (content hash a sha256 hex digest, id =
"v" + its first 11 digits, attribute values, unit-norm finite embeddings of one dimension per
space). Each audio member: against its sha256, decoded as FLAC with the rate and duration its
entry states. No member is ever extracted by its own name.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pydantic import ValidationError

from voices.audio import MAX_SECONDS, MIN_SECONDS
from voices.embedders import TEXT_SPACE
from voices.records import AGE_BANDS, GENDERS, HASH_RE, ID_RE, voice_id
from voices.schema import Voice
from voices.store import dumps

ARCHIVE_FORMAT = "stepvox-voices/1"
MAX_VOICES = 100_000
MAX_MEMBERS = MAX_VOICES + 3
MAX_MANIFEST_BYTES = 256 << 20
MAX_AUDIO_BYTES = 64 << 20  # 600 s of 48 kHz 16-bit mono is ~58 MB even uncompressed
MAX_TEXT_CHARS = 10_000
MAX_CHANNELS = 2  # stored prompts are mono; stereo tolerated
MAX_TAGS = 200
SPACE_RE = re.compile(r"speaker:[a-z0-9_-]{1,40}")
AUDIO_MEMBER_RE = re.compile(r"audio/([0-9a-f]{64})\.flac")
GENDER_SOURCES = {"estimated", "description", "given"}
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


class ArchiveError(ValueError):
    """An archive that cannot be imported; str(e) names the archive and the problem."""


@dataclass
class Entry:
    voice: Voice
    member: str
    sha256: str
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Limits:
    members: int = MAX_MEMBERS
    manifest_bytes: int = MAX_MANIFEST_BYTES
    audio_bytes: int = MAX_AUDIO_BYTES


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Archive:
    """An opened, fully validated archive (`open_archive`)."""

    def __init__(
        self, src: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], limits: Limits
    ):
        self.src = src
        self._tar = tar
        self._members = members
        self.limits = limits
        self.speaker_space = ""
        self.entries: list[Entry] = []

    def fail(self, msg: str) -> ArchiveError:
        return ArchiveError(f"{self.src}: {msg}")

    def read(self, name: str, limit: int) -> bytes:
        m = self._members.get(name)
        if m is None:
            raise self.fail(f"member {name} missing")
        if m.size > limit:
            raise self.fail(f"member {name}: {m.size} bytes (limit {limit})")
        try:
            f = self._tar.extractfile(m)
            data = f.read(m.size + 1) if f is not None else b""
        except (OSError, tarfile.TarError, EOFError) as e:
            raise self.fail(f"member {name}: unreadable, truncated archive? ({e})") from None
        if len(data) != m.size:
            raise self.fail(f"member {name}: truncated ({len(data)} of {m.size} bytes)")
        return data

    def audio(self, entry: Entry) -> bytes:
        """An entry's audio member, checked against its sha256."""
        data = self.read(entry.member, self.limits.audio_bytes)
        if sha256_hex(data) != entry.sha256:
            raise self.fail(f"member {entry.member}: checksum mismatch")
        return data

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _member_kind(m: tarfile.TarInfo) -> str:
    for test, kind in (
        (m.issym, "a symlink"),
        (m.islnk, "a hard link"),
        (m.isdev, "a device"),
        (m.isdir, "a folder"),
    ):
        if test():
            return kind
    return "not a regular file"


def _check_member(src: Path, m: tarfile.TarInfo, limits: Limits) -> bool:
    """True for a member to keep; False for the `audio` folder entry; ArchiveError otherwise."""
    name = m.name
    if name in ("audio", "audio/") and m.isdir():
        return False
    shown = name[:120]
    if (
        name.startswith(("/", "\\"))
        or "\\" in name
        or "\x00" in name
        or ".." in name.split("/")
        or not (name in ("manifest.json", "manifest.sha256") or AUDIO_MEMBER_RE.fullmatch(name))
    ):
        raise ArchiveError(
            f"{src}: member {shown!r}: unexpected name (not written by `voices export`)"
        )
    if m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise ArchiveError(
            f"{src}: member {shown!r}: {_member_kind(m)}, only regular files are accepted"
        )
    limit = limits.manifest_bytes if name == "manifest.json" else limits.audio_bytes
    if m.size > limit:
        raise ArchiveError(f"{src}: member {shown!r}: {m.size} bytes (limit {limit})")
    return True


def _open_tar(src: Path, limits: Limits) -> tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]:
    try:
        with open(src, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ArchiveError(f"{src}: cannot read ({e.strerror or e})") from None
    for magic, kind in _COMPRESSED.items():
        if head.startswith(magic):
            raise ArchiveError(
                f"{src}: a {kind} file; a voice archive is the uncompressed tar `voices export` writes"
            )
    try:
        tar = tarfile.open(src, mode="r:")
    except (OSError, tarfile.TarError) as e:
        raise ArchiveError(f"{src}: not a voice archive ({e})") from None
    members: dict[str, tarfile.TarInfo] = {}
    try:
        for i, m in enumerate(tar):
            if i >= limits.members:
                raise ArchiveError(f"{src}: more than {limits.members} members")
            if not _check_member(src, m, limits):
                continue
            if m.name in members:
                raise ArchiveError(f"{src}: member {m.name!r} appears twice")
            members[m.name] = m
    except (OSError, tarfile.TarError, EOFError) as e:
        tar.close()
        raise ArchiveError(f"{src}: damaged or truncated archive ({e})") from None
    except ArchiveError:
        tar.close()
        raise
    return tar, members


def _vector(arc: Archive, i: int, space: str, value: Any) -> np.ndarray:
    if not isinstance(value, str) or len(value) % 8 or not re.fullmatch(r"[0-9a-f]*", value):
        raise arc.fail(f"voice #{i}: embedding {space[:60]!r} is not hex float32")
    vec = np.frombuffer(bytes.fromhex(value), dtype="<f4").astype(np.float32)
    if vec.size == 0 or vec.size > 4096 or not np.all(np.isfinite(vec)):
        raise arc.fail(f"voice #{i}: embedding {space} is empty, too long or not finite")
    if abs(float(np.linalg.norm(vec)) - 1.0) > 1e-3:
        raise arc.fail(f"voice #{i}: embedding {space} is not unit length")
    return vec


def _voice(arc: Archive, i: int, raw: Any) -> Voice:
    if not isinstance(raw, dict):
        raise arc.fail(f"voice #{i}: not an object")
    try:
        v = Voice.model_validate({**raw, "audio_path": ""})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise arc.fail(f"voice #{i}: {where}: {err['msg']}") from None
    problems = []
    if not HASH_RE.fullmatch(v.content_hash):
        problems.append("content_hash is not a sha256 hex digest")
    elif not ID_RE.fullmatch(v.id) or v.id != voice_id(v.content_hash):
        problems.append(f"id {v.id[:40]!r} does not match its content hash")
    if v.gender not in GENDERS | {None}:
        problems.append(f"gender {v.gender[:40]!r}")
    if v.age_band not in AGE_BANDS | {None}:
        problems.append(f"age_band {v.age_band[:40]!r}")
    if v.gender_source not in GENDER_SOURCES:
        problems.append(f"gender_source {v.gender_source[:40]!r}")
    if not (MIN_SECONDS * 0.5 <= v.duration_s <= MAX_SECONDS):
        problems.append(f"duration_s {v.duration_s}")
    if not 8000 <= v.sample_rate <= 48000:
        problems.append(f"sample_rate {v.sample_rate}")
    for k in ("median_f0_hz", "speaking_rate"):
        x = getattr(v, k)
        if x is not None and not math.isfinite(x):
            problems.append(f"{k} {x}")
    texts = [v.name, v.description, v.style, v.source, v.license, v.language, *v.tags]
    if len(v.tags) > MAX_TAGS or any(t is not None and len(t) > MAX_TEXT_CHARS for t in texts):
        problems.append("text fields too long")
    if not v.name.strip():
        problems.append("empty name")
    if len(dumps(v.extra)) > 100_000:
        problems.append("extra too large")
    if problems:
        raise arc.fail(f"voice #{i} ({v.id[:40]}): bad {problems[0]}")
    # `extra` never shadows a real field in what `attributes()` reports
    v.extra = {k: x for k, x in v.extra.items() if k not in Voice.model_fields}
    return v


def _check_audio(arc: Archive, e: Entry, data: bytes) -> None:
    """The member is the FLAC its entry describes. Never decodes more than the entry's duration
    (plus tolerance): a few KB of FLAC can claim hours of many-channel audio (a decompression
    bomb), so the rate and channels are checked from the header and the read is capped."""
    want = int(round(e.voice.duration_s * e.voice.sample_rate))
    cap = want + int(0.05 * e.voice.sample_rate) + 1
    try:
        info = sf.info(io.BytesIO(data))
        if info.format != "FLAC":
            raise ValueError(f"{info.format} instead of FLAC")
        if info.channels > MAX_CHANNELS or info.samplerate != e.voice.sample_rate:
            raise ValueError(f"{info.channels} channels at {info.samplerate} Hz")
        with sf.SoundFile(io.BytesIO(data)) as f:
            y = f.read(frames=cap, dtype="float32", always_2d=True)
            more = len(f.read(frames=1, dtype="float32")) > 0
        sr = info.samplerate
    except Exception as err:  # libsndfile raises several types on damaged data
        raise arc.fail(
            f"member {e.member}: not decodable FLAC ({str(err).splitlines()[0][:120]})"
        ) from None
    dur = len(y) / sr
    if more or abs(dur - e.voice.duration_s) > 0.05 or not np.all(np.isfinite(y)):
        shown = f"more than {dur:.2f}" if more else f"{dur:.2f}"
        raise arc.fail(
            f"member {e.member}: {shown} s at {sr} Hz, its entry says "
            f"{e.voice.duration_s:.2f} s at {e.voice.sample_rate} Hz"
        )


def open_archive(src: Path, limits: Limits | None = None) -> Archive:
    """Open and validate everything (members, manifest, every audio member); ArchiveError names
    the archive and the first problem."""
    limits = limits or Limits()
    tar, members = _open_tar(src, limits)
    arc = Archive(src, tar, members, limits)
    try:
        manifest = arc.read("manifest.json", limits.manifest_bytes)
        want = arc.read("manifest.sha256", 200).decode("ascii", "replace").strip()
        if not HASH_RE.fullmatch(want) or sha256_hex(manifest) != want:
            raise arc.fail("manifest checksum mismatch")
        try:
            man = json.loads(manifest)
        except ValueError as e:
            raise arc.fail(f"manifest.json is not valid JSON ({e})") from None
        if not isinstance(man, dict) or man.get("format") != ARCHIVE_FORMAT:
            got = man.get("format") if isinstance(man, dict) else type(man).__name__
            raise arc.fail(f"unknown archive format {str(got)[:60]!r} (expected {ARCHIVE_FORMAT})")
        space = man.get("speaker_space")
        if not isinstance(space, str) or not SPACE_RE.fullmatch(space):
            raise arc.fail(f"bad speaker_space {str(space)[:60]!r}")
        arc.speaker_space = space
        raw_voices = man.get("voices")
        if not isinstance(raw_voices, list) or len(raw_voices) > MAX_VOICES:
            raise arc.fail(f"manifest voices: expected a list of at most {MAX_VOICES}")
        dims: dict[str, int] = {}
        seen: set[str] = set()
        for i, raw in enumerate(raw_voices):
            if not isinstance(raw, dict):
                raise arc.fail(f"voice #{i}: not an object")
            v = _voice(arc, i, raw.get("voice"))
            member, sha = raw.get("audio"), raw.get("sha256")
            if member != f"audio/{v.content_hash}.flac":
                raise arc.fail(
                    f"voice #{i} ({v.id}): audio member {str(member)[:80]!r} does not match its content hash"
                )
            if not isinstance(sha, str) or not HASH_RE.fullmatch(sha):
                raise arc.fail(f"voice #{i} ({v.id}): sha256 is not a hex digest")
            if v.content_hash in seen:
                raise arc.fail(f"voice #{i} ({v.id}): listed twice")
            seen.add(v.content_hash)
            embs = raw.get("embeddings") or {}
            if not isinstance(embs, dict):
                raise arc.fail(f"voice #{i} ({v.id}): embeddings is not an object")
            entry = Entry(v, member, sha)
            for s in (space, TEXT_SPACE):  # other spaces are not used
                if s in embs:
                    entry.embeddings[s] = vec = _vector(arc, i, s, embs[s])
                    if dims.setdefault(s, vec.size) != vec.size:
                        raise arc.fail(
                            f"voice #{i} ({v.id}): {s} has {vec.size} dimensions, others {dims[s]}"
                        )
            _check_audio(arc, entry, arc.audio(entry))
            arc.entries.append(entry)
        extra = (
            set(members) - {"manifest.json", "manifest.sha256"} - {e.member for e in arc.entries}
        )
        if extra:
            raise arc.fail(f"member {sorted(extra)[0]} is not in the manifest")
    except BaseException:
        arc.close()
        raise
    return arc
