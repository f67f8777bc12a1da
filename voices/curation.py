"""Curation over a whole library: same-speaker clusters, quality/integrity report, portable
checksummed archives."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from voices.audio import AudioError
from voices.library import TEXT_SPACE, DuplicateVoice, VoiceLibrary
from voices.store import dumps

ARCHIVE_FORMAT = "stepvox-voices/1"
DEFAULT_DEDUPE_THRESHOLD = 0.85


def dedupe(lib: VoiceLibrary, threshold: float = DEFAULT_DEDUPE_THRESHOLD) -> dict[str, Any]:
    """Clusters of clips whose speaker embeddings are within `threshold` cosine (single link)."""
    ids, vecs = lib.store.embeddings(lib.speaker_space)
    n = len(ids)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    best: dict[tuple[int, int], float] = {}
    for start in range(0, n, 2048):
        block = vecs[start : start + 2048] @ vecs.T
        for bi, j in zip(*np.nonzero(block >= threshold), strict=True):
            i = start + int(bi)
            if i < j:
                best[(i, int(j))] = float(block[bi, j])
                parent[find(i)] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    clusters = []
    for members in groups.values():
        if len(members) < 2:
            continue
        rows = [lib.store.row("rowid=?", (int(ids[m]),)) for m in members]
        scores = [s for (a, b), s in best.items() if a in members and b in members]
        clusters.append(
            {
                "ids": [r["id"] for r in rows],
                "names": [r["name"] for r in rows],
                "min_score": round(min(scores), 4),
                "max_score": round(max(scores), 4),
            }
        )
    clusters.sort(key=lambda c: -len(c["ids"]))
    return {"threshold": threshold, "voices": n, "clusters": clusters}


def check(lib: VoiceLibrary, verify_audio: bool = True) -> dict[str, Any]:
    """Quality verdicts per voice plus integrity of the stored files and indexes."""
    verdicts: dict[str, int] = {}
    issues, missing, damaged = [], [], []
    for v in lib.list():
        verdicts[v.quality.verdict] = verdicts.get(v.quality.verdict, 0) + 1
        if v.quality.verdict != "good":
            issues.append(
                {
                    "id": v.id,
                    "name": v.name,
                    "verdict": v.quality.verdict,
                    "reasons": v.quality.reasons,
                }
            )
        p = Path(v.audio_path)
        if not p.is_file():
            missing.append(v.id)
        elif verify_audio:
            try:
                import soundfile as sf

                sf.info(str(p))
            except Exception:
                damaged.append(v.id)
    indexes = {}
    for space in (lib.speaker_space, TEXT_SPACE):
        before = len(lib.index_events)
        st = lib._ensure_index(space)
        indexes[space] = {
            "vectors": int(st["index"].ntotal) if st["index"] is not None else 0,
            "events": lib.index_events[before:],
        }
    return {
        "voices": lib.count(),
        "verdicts": verdicts,
        "issues": issues,
        "integrity": {"missing_audio": missing, "unreadable_audio": damaged, "indexes": indexes},
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_archive(lib: VoiceLibrary, dest: Path) -> dict[str, Any]:
    """A tar with manifest.json (metadata, embeddings, sha256 of every member) and the audio."""
    voices = []
    members: dict[str, bytes] = {}
    for row in lib.store.iter_rows():
        v = lib._voice(row)
        data = Path(v.audio_path).read_bytes()
        name = f"audio/{v.content_hash}.flac"
        members[name] = data
        embs = {}
        for space in (lib.speaker_space, TEXT_SPACE):
            ids, vecs = lib.store.embeddings(space, rowids=[row["rowid"]])
            if len(ids):
                embs[space] = vecs[0].astype("<f4").tobytes().hex()
        voices.append(
            {
                "voice": v.model_dump(mode="json", exclude={"audio_path"}),
                "audio": name,
                "sha256": _sha(data),
                "embeddings": embs,
            }
        )
    manifest = json.dumps(
        {"format": ARCHIVE_FORMAT, "speaker_space": lib.speaker_space, "voices": voices}, indent=1
    ).encode()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with tarfile.open(tmp, "w") as tar:
        for name, data in [
            ("manifest.json", manifest),
            ("manifest.sha256", _sha(manifest).encode()),
            *members.items(),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(dest)
    return {"archive": str(dest), "voices": len(voices), "bytes": dest.stat().st_size}


def import_archive(lib: VoiceLibrary, src: Path) -> dict[str, Any]:
    """Verify every checksum first, then add the voices not already present (by content hash)."""
    try:
        tar = tarfile.open(src, "r")
    except (OSError, tarfile.TarError) as e:
        raise ValueError(f"{src}: not a voice archive ({e})") from None
    with tar:
        try:
            manifest = tar.extractfile("manifest.json").read()  # type: ignore[union-attr]
            want = tar.extractfile("manifest.sha256").read().decode().strip()  # type: ignore[union-attr]
        except (KeyError, AttributeError):
            raise ValueError(f"{src}: not a voice archive (no manifest)") from None
        if _sha(manifest) != want:
            raise ValueError(f"{src}: manifest checksum mismatch")
        man = json.loads(manifest)
        if man.get("format") != ARCHIVE_FORMAT:
            raise ValueError(f"{src}: unknown archive format {man.get('format')!r}")
        blobs = {}
        for entry in man["voices"]:
            try:
                data = tar.extractfile(entry["audio"]).read()  # type: ignore[union-attr]
            except (KeyError, AttributeError):
                raise ValueError(f"{src}: member {entry['audio']} missing") from None
            if _sha(data) != entry["sha256"]:
                raise ValueError(f"{src}: member {entry['audio']} checksum mismatch")
            blobs[entry["audio"]] = data
    added, present, failed = [], 0, []
    with tempfile.TemporaryDirectory() as td:
        for entry in man["voices"]:
            v = entry["voice"]
            if lib.store.row("content_hash=?", (v["content_hash"],)) or lib.get(v["id"]):
                present += 1
                continue
            p = Path(td) / f"{v['content_hash']}.flac"
            p.write_bytes(blobs[entry["audio"]])
            attrs = {k: v.get(k) for k in ("language", "age_band", "style", "source", "license")}
            if v.get("gender_source") == "given":
                attrs["gender"] = v.get("gender")
            try:
                nv = lib.add(
                    p,
                    name=v["name"],
                    tags=v.get("tags", []),
                    description=v.get("description", ""),
                    **attrs,
                )
            except DuplicateVoice:
                present += 1
                continue
            except (AudioError, ValueError) as e:
                failed.append({"id": v["id"], "reason": str(e)})
                continue
            # keep created time and the original id mapping visible
            with lib.store.tx() as db:
                db.execute(
                    "UPDATE voices SET created=?, extra=json_patch(extra, ?) WHERE id=?",
                    (v["created"], dumps({"archived_id": v["id"]}), nv.id),
                )
            added.append({"id": nv.id, "name": nv.name})
    lib.flush()
    return {
        "archive": str(src),
        "added": added,
        "already_present": present,
        "failed": failed,
        "total": lib.count(),
    }
