"""Turn an audio file into everything a new voice needs, before the library's write lock is
taken: the decoded clip and its content hash (cheap: enough for a duplicate check), then the
measured attributes, the speaker and description embeddings and the normalized copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import resample
from core.text_embedding import TextEmbedder
from voices.attributes import analyze
from voices.audio import ANALYSIS_RATE, content_hash, load_audio, normalize
from voices.embedders import SpeakerEmbedder
from voices.records import check_attrs, flat_attributes, new_record
from voices.textmatch import describe


@dataclass
class Clip:
    path: Path
    y: np.ndarray
    sr: int
    clipping: float
    hash: str


@dataclass
class Enrolled:
    """A voice ready to be committed: its row, embeddings by space, and normalized audio."""

    rec: dict[str, Any]
    embeddings: dict[str, np.ndarray]
    audio: np.ndarray
    rate: int

    @property
    def hash(self) -> str:
        return self.rec["content_hash"]


def read_clip(path: Path) -> Clip:
    """Decode and hash (AudioError names the file and the problem)."""
    y, sr, clipping = load_audio(path)
    return Clip(path=path, y=y, sr=sr, clipping=clipping, hash=content_hash(y, sr))


def enroll(
    clip: Clip,
    speaker: SpeakerEmbedder,
    speaker_space: str,
    text: TextEmbedder,
    text_space: str,
    name: str,
    tags: list[str],
    description: str,
    attrs: dict[str, Any],
) -> Enrolled:
    check_attrs(attrs)
    y16 = resample(clip.y, clip.sr, ANALYSIS_RATE)
    auto = analyze(y16, clip.clipping)
    spk = speaker.embed(y16)
    norm, nsr = normalize(clip.y, clip.sr)
    rec = new_record(
        clip.hash,
        clip.path,
        name,
        tags,
        description,
        attrs,
        auto,
        duration_s=len(norm) / nsr,
        sample_rate=nsr,
        source_sample_rate=clip.sr,
    )
    txt = text.encode([describe(flat_attributes(rec))])[0]
    return Enrolled(rec=rec, embeddings={speaker_space: spk, text_space: txt}, audio=norm, rate=nsr)
