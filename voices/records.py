"""A voice as SQLite stores it: the row <-> `Voice` mapping, the record a new voice is stored
as (given and measured attributes, how its gender was decided), attribute checks, filters."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from voices.schema import FILTER_FIELDS, Quality, Voice
from voices.store import dumps, now
from voices.textmatch import parse_request

KNOWN_ATTRS = {"language", "gender", "age_band", "style", "source", "license"}
GENDERS = {"female", "male"}
AGE_BANDS = {"child", "young", "adult", "middle-aged", "older"}
HASH_RE = re.compile(r"[0-9a-f]{64}")
ID_RE = re.compile(r"v[0-9a-f]{11}")


class DuplicateVoice(ValueError):
    def __init__(self, path: str, existing: Voice):
        super().__init__(f"{path}: same audio as voice {existing.id} ({existing.name})")
        self.existing = existing


def voice_id(content_hash: str) -> str:
    return "v" + content_hash[:11]


def audio_rel(content_hash: str) -> str:
    """Where a voice's normalized copy lives, relative to the library root. The hash must be a
    sha256 hex digest: nothing else ever becomes part of a path."""
    if not HASH_RE.fullmatch(content_hash):
        raise ValueError(f"content hash {content_hash[:80]!r}: not a sha256 hex digest")
    return f"audio/{content_hash[:2]}/{content_hash}.flac"


def check_attrs(attrs: dict[str, Any]) -> None:
    g = attrs.get("gender")
    if g is not None and g not in GENDERS:
        raise ValueError(f"gender {g!r}: expected one of {sorted(GENDERS)}")
    a = attrs.get("age_band")
    if a is not None and a not in AGE_BANDS:
        raise ValueError(f"age_band {a!r}: expected one of {sorted(AGE_BANDS)}")


def voice_from_row(root: Path, row: sqlite3.Row) -> Voice:
    return Voice(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        tags=json.loads(row["tags"]),
        language=row["language"],
        gender=row["gender"],
        gender_source=row["gender_source"],
        age_band=row["age_band"],
        style=row["style"],
        source=row["source"],
        license=row["license"],
        audio_path=str(root / row["audio_file"]),
        content_hash=row["content_hash"],
        duration_s=row["duration_s"],
        sample_rate=row["sample_rate"],
        median_f0_hz=row["median_f0_hz"],
        speaking_rate=row["speaking_rate"],
        quality=Quality.model_validate_json(row["quality"]),
        extra=json.loads(row["extra"]),
        created=datetime.fromisoformat(row["created"]),
        updated=datetime.fromisoformat(row["updated"]),
    )


def voice_record(voice: Voice) -> dict[str, Any]:
    """The row (VOICE_COLUMNS) of a validated `Voice` (e.g. one read from an archive)."""
    d = voice.model_dump(mode="json")
    return {
        **{k: d[k] for k in d if k not in ("audio_path", "tags", "quality", "extra")},
        "tags": dumps(sorted(voice.tags)),
        "audio_file": audio_rel(voice.content_hash),
        "quality": voice.quality.model_dump_json(),
        "extra": dumps(voice.extra),
    }


def new_record(
    content_hash: str,
    path: Path,
    name: str,
    tags: list[str],
    description: str,
    attrs: dict[str, Any],
    auto: dict[str, Any],
    duration_s: float,
    sample_rate: int,
    source_sample_rate: int,
) -> dict[str, Any]:
    """The row of a new voice from what was given and what `attributes.analyze` measured.
    Gender: given > words of the description/style/tags > the F0 estimate."""
    described = parse_request(" ".join([description or "", attrs.get("style") or "", *tags]))
    gender, gender_source = auto["gender"], "estimated"
    if attrs.get("gender"):
        gender, gender_source = attrs["gender"], "given"
    elif described.get("gender"):  # the curator's words beat the F0 estimate
        gender, gender_source = described["gender"], "description"
    extra = {k: v for k, v in attrs.items() if k not in KNOWN_ATTRS and v is not None}
    extra.update(
        {
            "gender_estimated": auto["gender"],
            "gender_confidence": auto["gender_confidence"],
            "pitch": auto["pitch"],
            "pace": auto["pace"],
            "voiced_ratio": auto["voiced_ratio"],
            "source_sample_rate": source_sample_rate,
        }
    )
    ts = now()
    return {
        "id": voice_id(content_hash),
        "name": name.strip() or path.stem,
        "description": description or "",
        "tags": dumps(sorted({t.strip() for t in tags if t.strip()})),
        "language": attrs.get("language"),
        "gender": gender,
        "gender_source": gender_source,
        "age_band": attrs.get("age_band"),
        "style": attrs.get("style"),
        "source": attrs.get("source") or str(path.resolve()),
        "license": attrs.get("license"),
        "audio_file": audio_rel(content_hash),
        "content_hash": content_hash,
        "duration_s": round(duration_s, 3),
        "sample_rate": sample_rate,
        "median_f0_hz": auto["median_f0_hz"],
        "speaking_rate": auto["speaking_rate"],
        "quality": auto["quality"].model_dump_json(),
        "extra": dumps(extra),
        "created": ts,
        "updated": ts,
    }


def flat_attributes(rec: dict[str, Any]) -> dict[str, Any]:
    """A record's attributes as one flat dict (what the description text is made from)."""
    return {**rec, **json.loads(rec["extra"]), "tags": json.loads(rec["tags"])}


def where_clause(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """SQL condition over `voices` for attribute filters (exact, case-insensitive)."""
    clauses, args = ["1"], []
    for key, value in (filters or {}).items():
        k = key.strip().lower()
        if k in ("tag", "tags"):
            for t in value if isinstance(value, list | tuple) else [value]:
                clauses.append(
                    "EXISTS (SELECT 1 FROM json_each(voices.tags) WHERE lower(json_each.value)=?)"
                )
                args.append(str(t).lower())
        elif k in FILTER_FIELDS:
            col = "name_lc" if k == "name" else k
            if k == "quality":
                clauses.append("lower(json_extract(quality, '$.verdict'))=?")
            else:
                clauses.append(f"lower({col})=?")
            args.append(str(value).lower())
        elif k in ("min_duration", "max_duration"):
            try:
                num = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"filter {key}={value}: expected a number of seconds") from None
            clauses.append("duration_s >= ?" if k == "min_duration" else "duration_s <= ?")
            args.append(num)
        else:
            known = ", ".join([*FILTER_FIELDS, "tag", "min_duration", "max_duration"])
            raise ValueError(f"filter {key}: unknown field (known: {known})")
    return " AND ".join(clauses), args
