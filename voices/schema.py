"""Data that crosses the library's boundary: a stored voice, a search hit, a quality verdict."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

#: columns a search filter or `voices list` may name (equality match, case-insensitive)
FILTER_FIELDS = ("gender", "age_band", "style", "language", "quality", "name", "source", "license")


class Quality(BaseModel):
    verdict: str = "unknown"  # good | fair | poor
    reasons: list[str] = Field(default_factory=list)
    loudness_dbfs: float | None = None  # RMS level of the active (non-silent) frames
    peak_dbfs: float | None = None
    clipping_ratio: float | None = None  # fraction of samples at full scale in the source
    snr_db: float | None = None  # speech frames vs noise floor
    silence_ratio: float | None = None


class Voice(BaseModel):
    id: str
    name: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    language: str | None = None
    gender: str | None = None  # female | male | None (unknown)
    gender_source: str = "estimated"  # estimated (from F0) | description (its words) | given
    age_band: str | None = None  # child | young | adult | middle-aged | older
    style: str | None = None  # style or emotion: calm, cheerful, ...
    source: str | None = None  # where the clip came from (path or URL)
    license: str | None = None
    audio_path: str  # absolute path of the stored normalized copy
    content_hash: str
    duration_s: float
    sample_rate: int
    median_f0_hz: float | None = None
    speaking_rate: float | None = None  # syllable nuclei per second of speech
    quality: Quality = Field(default_factory=Quality)
    extra: dict[str, Any] = Field(default_factory=dict)
    created: datetime
    updated: datetime

    def attributes(self) -> dict[str, Any]:
        """Flat attribute dict (what search hits and `voices show --json` carry)."""
        d = self.model_dump(mode="json", exclude={"id", "name", "quality", "extra"})
        d["quality"] = self.quality.verdict
        d["quality_reasons"] = list(self.quality.reasons)
        for k in ("loudness_dbfs", "clipping_ratio", "snr_db", "silence_ratio"):
            d[k] = getattr(self.quality, k)
        d.update(self.extra)
        return d


class VoiceHit(BaseModel):
    id: str
    name: str
    score: float  # higher is better
    attributes: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "score": round(self.score, 4), **self.attributes}
