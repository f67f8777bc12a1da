"""VoiceLibrary: add, import, search and curate voices in a folder.

Layout of a library root (directories 0700, files 0600):
  library.sqlite        metadata, embeddings, import ledger (source of truth)
  audio/ab/<hash>.flac  normalized copies, named by content hash
  index/<space>.faiss   FAISS indexes (checksummed, one file each); rebuilt from SQLite
                        whenever missing, behind, or damaged
  .lock, .writing       the write lock and the marker of a write in progress (voices.writer)

Writes (add, import, update, remove, archive import, rebuild) hold the library's write lock
from the moment they read the state they change until they have committed; the expensive part
of adding a voice (decoding, measuring, embedding) happens before, outside the lock.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import resample
from core.settings import private_dir
from core.text_embedding import TextEmbedder, get_text_embedder
from voices import importer
from voices import search as vsearch
from voices.audio import ANALYSIS_RATE, atomic_write_flac, load_audio
from voices.embedders import TEXT_SPACE, SpeakerEmbedder, l2norm, make_speaker_embedder
from voices.enroll import Clip, Enrolled, enroll, read_clip
from voices.index_sync import IndexSet
from voices.records import DuplicateVoice, check_attrs, voice_from_row, where_clause
from voices.schema import Voice, VoiceHit
from voices.store import Store, dumps, now
from voices.textmatch import describe, parse_request
from voices.writer import LOCK_TIMEOUT_S, WriterLock

log = logging.getLogger("stepvox.voices")

DEFAULT_SAME_SPEAKER = 0.85  # resemblyzer cosine: 0 false pairs among 60 LibriSpeech readers
EDITABLE = {"name", "description", "language", "gender", "age_band", "style", "source", "license"}


def _private_tree(root: Path) -> None:
    """The library's own folders are 0700 (tightened when an older version made them 0755)."""
    for d in (root, root / "audio", root / "index"):
        private_dir(d)
        try:
            if d != root and d.stat().st_mode & 0o077:
                os.chmod(d, 0o700)
        except OSError:
            pass


class VoiceLibrary:
    def __init__(
        self,
        root: str | Path,
        speaker_embedder: str | SpeakerEmbedder | None = None,
        token2wav_dir: str | Path | None = None,
        lock_timeout: float = LOCK_TIMEOUT_S,
    ):
        self.root = Path(root).expanduser().resolve()
        _private_tree(self.root)
        self.store: Store | None = None
        self.writer = WriterLock(self.root, self.sweep_orphans, lock_timeout)
        if (self.root / "library.sqlite").exists():
            self.store = Store(self.root / "library.sqlite")
        else:  # two processes creating one library: one creates the schema
            with self.writer.hold():
                self.store = Store(self.root / "library.sqlite")
        self.token2wav_dir = Path(token2wav_dir) if token2wav_dir else None
        self._speaker: SpeakerEmbedder | None = None
        if isinstance(speaker_embedder, str) or speaker_embedder is None:
            self._speaker_name = speaker_embedder or self.store.get_meta("speaker_model")
            if self._speaker_name is None:
                has_campplus = (
                    self.token2wav_dir and (self.token2wav_dir / "campplus.onnx").is_file()
                )
                self._speaker_name = "campplus" if has_campplus else "resemblyzer"
        else:
            self._speaker_name = speaker_embedder.name
            self._speaker = speaker_embedder
        if self.store.get_meta("speaker_model") != self._speaker_name:
            with self.writer.hold():
                stored = self.store.get_meta("speaker_model")
                if stored != self._speaker_name:
                    with self.store.tx() as db:
                        self.store.set_meta(db, "speaker_model", self._speaker_name)
                        if stored is not None:  # switched model: indexes rebuild, vectors computed
                            self.store.bump(db, deleted=True)
        self._text = get_text_embedder()  # the process-wide MiniLM (shared with router and RAG)
        self.indexes = IndexSet(self.root / "index", self.store, self.writer, self._compute_missing)
        self.writer.recover()

    @property
    def text_embedder(self) -> TextEmbedder:
        """The description-text embedder (the process-wide MiniLM, `core.text_embedding`)."""
        return self._text

    @property
    def index_events(self) -> list[str]:
        """What index maintenance happened in this process (rebuilt, extended)."""
        return self.indexes.events

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        if self.store is None:
            return
        self.flush()
        self.store.close()
        self.store = None  # type: ignore[assignment]

    def __enter__(self) -> VoiceLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def writing(self) -> AbstractContextManager[bool]:
        """Hold the library's write lock (across processes; re-entrant in a thread)."""
        return self.writer.hold()

    def flush(self) -> None:
        """Save the indexes that changed (when no other process is writing)."""
        self.indexes.persist(force=True)

    def sweep_orphans(self) -> int:
        """Remove audio copies no committed row points to and temp files (a killed writer's)."""
        if self.store is None:
            return 0
        hashes = {r[0] for r in self.store.db.execute("SELECT content_hash FROM voices")}
        removed = 0
        for f in (self.root / "audio").rglob("*"):
            if f.is_file() and (f.name.startswith(".tmp-") or f.stem not in hashes):
                f.unlink(missing_ok=True)
                removed += 1
        for tmp in (self.root / "index").glob(".tmp-*"):
            tmp.unlink(missing_ok=True)
        return removed

    # -- embedders ------------------------------------------------------------------------
    @property
    def speaker_space(self) -> str:
        return f"speaker:{self._speaker_name}"

    @property
    def speaker_embedder(self) -> SpeakerEmbedder:
        if self._speaker is None:
            self._speaker = make_speaker_embedder(self._speaker_name, self.token2wav_dir)
        return self._speaker

    def embed_audio(self, paths: list[str | Path]) -> np.ndarray:
        """One unit-norm speaker embedding for one or more example clips (their mean)."""
        clips = [load_audio(p) for p in paths]  # every file is checked before a model loads
        vecs = [self.speaker_embedder.embed(resample(y, sr, ANALYSIS_RATE)) for y, sr, _ in clips]
        return l2norm(np.mean(vecs, axis=0))

    # -- reading ----------------------------------------------------------------------------
    def voice_from_row(self, row: sqlite3.Row) -> Voice:
        return voice_from_row(self.root, row)

    def get(self, voice_id: str) -> Voice | None:
        row = self.store.row("id=?", (voice_id,))
        return self.voice_from_row(row) if row else None

    def find_by_name(self, name: str) -> Voice | None:
        row = self.store.row("name_lc=? ORDER BY rowid LIMIT 1", (name.strip().lower(),))
        return self.voice_from_row(row) if row else None

    def resolve(self, ref: str) -> Voice | None:
        """A voice by id, else by name."""
        return self.get(ref) or self.find_by_name(ref)

    def count(self) -> int:
        return self.store.count()

    def list(self, filters: dict[str, Any] | None = None) -> list[Voice]:
        where, args = where_clause(filters)
        return [self.voice_from_row(r) for r in self.store.rows(where, args)]

    def search(
        self,
        text: str | None = None,
        audio: list[str | Path] | None = None,
        filters: dict[str, Any] | None = None,
        top_k: int = 5,
    ) -> list[VoiceHit]:
        """Voices by example audio, by description, by attribute filters, or a combination
        (`voices.search`). An empty library returns []."""
        return vsearch.search(self, text=text, audio=audio, filters=filters, top_k=top_k)

    # -- adding -----------------------------------------------------------------------------
    def enroll(
        self,
        clip: Clip,
        name: str,
        tags: list[str],
        description: str,
        attrs: dict[str, Any],
    ) -> Enrolled:
        """Measure and embed a decoded clip (no lock: this is the slow part)."""
        return enroll(
            clip,
            self.speaker_embedder,
            self.speaker_space,
            self._text,
            TEXT_SPACE,
            name,
            tags,
            description,
            attrs,
        )

    def add(
        self,
        path: str | Path,
        name: str | None = None,
        tags: list[str] | None = None,
        description: str = "",
        **attrs: Any,
    ) -> Voice:
        """Add one clip. Raises AudioError (bad file) or DuplicateVoice (same audio stored)."""
        p = Path(path)
        check_attrs(attrs)
        clip = read_clip(p)
        if self.store.has_hash(clip.hash):
            raise DuplicateVoice(str(p), self.voice_from_row(self._row_of(clip.hash)))
        enrolled = self.enroll(clip, name or p.stem, tags or [], description, attrs)
        with self.writer.hold():
            voice, _ = self.commit(enrolled, p)
            self.indexes.persist(force=False)
        return voice

    def _row_of(self, content_hash: str) -> sqlite3.Row:
        return self.store.row("content_hash=?", (content_hash,))  # type: ignore[return-value]

    def commit(
        self,
        enrolled: Enrolled,
        path: Path,
        source_stat: tuple[str, int, float] | None = None,
        same_speaker_threshold: float | None = None,
    ) -> tuple[Voice, tuple[int, float] | None]:
        """Store an enrolled voice: duplicate check, same-speaker check, audio copy, one
        transaction. The caller holds the write lock, so what is checked here is current."""
        assert self.writer.held, "commit without the library's write lock"
        rec = enrolled.rec
        existing = self.store.row("content_hash=? OR id=?", (rec["content_hash"], rec["id"]))
        if existing:
            raise DuplicateVoice(str(path), self.voice_from_row(existing))
        nearest = None
        if same_speaker_threshold is not None and self.count():
            spk = enrolled.embeddings[self.speaker_space]
            hits = self.indexes.knn(self.speaker_space, spk, 1, None)
            if hits:
                rid, score = next(iter(hits.items()))
                if score >= same_speaker_threshold:
                    nearest = (rid, score)
        self.writer.writing_files()
        atomic_write_flac(enrolled.audio, enrolled.rate, self.root / rec["audio_file"])
        with self.store.tx() as db:
            self.store.insert_voice(db, rec, enrolled.embeddings)
            if source_stat:
                self.store.put_source(db, *source_stat, rec["content_hash"])
        return self.get(rec["id"]), nearest  # type: ignore[return-value]

    def import_dir(
        self,
        directory: str | Path,
        progress: Callable[[int, int, str], None] | None = None,
        same_speaker_threshold: float = DEFAULT_SAME_SPEAKER,
        tags: list[str] | None = None,
        checkpoint_every: int = 50,
        on_added: Callable[[Voice], None] | None = None,
    ) -> dict[str, Any]:
        """Import every audio file under a folder (`voices.importer.import_dir`)."""
        return importer.import_dir(
            self,
            Path(directory),
            progress,
            same_speaker_threshold,
            tags,
            checkpoint_every,
            on_added,
        )

    # -- curation -------------------------------------------------------------------------
    def update(
        self,
        voice_id: str,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
        **fields: Any,
    ) -> Voice:
        """Change tags, name, description or attributes; the text embedding follows."""
        check_attrs(fields)
        for k, val in fields.items():
            if val is not None and k not in EDITABLE:
                raise ValueError(f"{k}: not an editable field ({', '.join(sorted(EDITABLE))})")
        with self.writer.hold():
            v = self.resolve(voice_id)
            if v is None:
                raise KeyError(f"{voice_id}: no such voice")
            tags = (set(v.tags) | {t.strip() for t in add_tags or [] if t.strip()}) - set(
                remove_tags or []
            )
            cols: dict[str, Any] = {"tags": dumps(sorted(tags)), "updated": now()}
            for k, val in fields.items():
                if val is None:
                    continue
                cols[k] = val
                if k == "name":
                    cols["name_lc"] = str(val).lower()
                if k == "gender":
                    cols["gender_source"] = "given"
            if "gender" not in cols and v.gender_source != "given":
                words = " ".join(
                    [
                        cols.get("description", v.description),
                        cols.get("style") or v.style or "",
                        *tags,
                    ]
                )
                described = parse_request(words).get("gender")
                if described:
                    cols.update(gender=described, gender_source="description")
                elif v.gender_source == "description":
                    cols.update(gender=v.extra.get("gender_estimated"), gender_source="estimated")
            row = self.store.row("id=?", (v.id,))
            merged = {
                **v.attributes(),
                **{k: val for k, val in cols.items() if k != "tags"},
                "tags": sorted(tags),
            }
            txt = self._text.encode([describe(merged)])[0]
            with self.store.tx() as db:
                db.execute(
                    f"UPDATE voices SET {', '.join(f'{k}=?' for k in cols)} WHERE rowid=?",
                    [*cols.values(), row["rowid"]],
                )
                self.store.put_embedding(db, row["rowid"], TEXT_SPACE, txt)
                self.store.bump(db, deleted=True)  # the text vector changed: rebuild that index
            self.indexes.drop(TEXT_SPACE)
            return self.get(v.id)  # type: ignore[return-value]

    def remove(self, voice_id: str) -> Voice:
        with self.writer.hold():
            v = self.resolve(voice_id)
            if v is None:
                raise KeyError(f"{voice_id}: no such voice")
            self.writer.writing_files()
            with self.store.tx() as db:
                db.execute("DELETE FROM voices WHERE id=?", (v.id,))
                db.execute("DELETE FROM sources WHERE content_hash=?", (v.content_hash,))
                self.store.bump(db, deleted=True)
            Path(v.audio_path).unlink(missing_ok=True)
            self.indexes.drop()
        return v

    # -- indexes --------------------------------------------------------------------------
    def _compute_missing(self, space: str) -> int:
        """Embeddings a voice lacks in `space` (the speaker model was switched), from its audio."""
        if not self.store.missing_embeddings(space):
            return 0
        with self.writer.hold():
            rows = self.store.missing_embeddings(space)
            for row in rows:
                if space == TEXT_SPACE:
                    vec = self._text.encode([describe(self.voice_from_row(row).attributes())])[0]
                else:
                    y, sr, _ = load_audio(self.root / row["audio_file"])
                    vec = self.speaker_embedder.embed(resample(y, sr, ANALYSIS_RATE))
                with self.store.tx() as db:
                    self.store.put_embedding(db, row["rowid"], space, vec)
                    # old rows changed: every process's index of this space rebuilds
                    self.store.bump(db, deleted=True)
        return len(rows)

    def rebuild_index(self) -> dict[str, Any]:
        """Drop and rebuild every index from SQLite; compute embeddings that are missing (e.g.
        after switching the speaker embedder) from the stored audio."""
        with self.writer.hold():
            orphans = self.sweep_orphans()
            computed = self._compute_missing(self.speaker_space) + self._compute_missing(TEXT_SPACE)
            return {
                "voices": self.count(),
                "orphans_removed": orphans,
                "embeddings_computed": computed,
                "indexes": self.indexes.rebuild([self.speaker_space, TEXT_SPACE]),
            }
