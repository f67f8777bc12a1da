"""VoiceLibrary: add, import, search and curate voices in a folder.

Layout of a library root:
  library.sqlite        metadata, embeddings, import ledger (source of truth)
  audio/ab/<hash>.flac  normalized copies, named by content hash
  index/<space>.faiss   FAISS indexes (+ .json sidecar with checksum); rebuilt from SQLite
                        whenever missing, behind, or damaged
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.audio import resample
from core.text_embedding import TextEmbedder, get_text_embedder
from voices import index as vindex
from voices.attributes import analyze
from voices.audio import (
    ANALYSIS_RATE,
    AUDIO_EXTENSIONS,
    AudioError,
    atomic_write_flac,
    content_hash,
    load_audio,
    normalize,
)
from voices.embedders import SpeakerEmbedder, l2norm, make_speaker_embedder
from voices.schema import FILTER_FIELDS, Quality, Voice, VoiceHit
from voices.store import Store, dumps, now
from voices.textmatch import attribute_match, describe, parse_request

log = logging.getLogger("stepvox.voices")

TEXT_SPACE = "text:minilm"
EXACT_MAX = 50_000  # filtered searches over at most this many voices are scored exactly
DEFAULT_SAME_SPEAKER = 0.85  # resemblyzer cosine: 0 false pairs among 60 LibriSpeech readers
KNOWN_ATTRS = {"language", "gender", "age_band", "style", "source", "license"}
GENDERS = {"female", "male"}
AGE_BANDS = {"child", "young", "adult", "middle-aged", "older"}


class DuplicateVoice(ValueError):
    def __init__(self, path: str, existing: Voice):
        super().__init__(f"{path}: same audio as voice {existing.id} ({existing.name})")
        self.existing = existing


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class VoiceLibrary:
    def __init__(
        self,
        root: str | Path,
        speaker_embedder: str | SpeakerEmbedder | None = None,
        token2wav_dir: str | Path | None = None,
    ):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "audio").mkdir(exist_ok=True)
        (self.root / "index").mkdir(exist_ok=True)
        self.store = Store(self.root / "library.sqlite")
        self.token2wav_dir = Path(token2wav_dir) if token2wav_dir else None
        stored = self.store.get_meta("speaker_model")
        if isinstance(speaker_embedder, str) or speaker_embedder is None:
            name = speaker_embedder or stored
            if name is None:
                has_campplus = (
                    self.token2wav_dir and (self.token2wav_dir / "campplus.onnx").is_file()
                )
                name = "campplus" if has_campplus else "resemblyzer"
            self._speaker_name = name
            self._speaker: SpeakerEmbedder | None = None
        else:
            self._speaker_name = speaker_embedder.name
            self._speaker = speaker_embedder
        if stored != self._speaker_name:
            with self.store.tx() as db:
                self.store.set_meta(db, "speaker_model", self._speaker_name)
                if stored is not None:  # switched model: indexes rebuild, missing vectors computed
                    self.store.bump(db, deleted=True)
        self._text = get_text_embedder()  # the process-wide MiniLM (shared with router and RAG)
        self._indexes: dict[str, dict[str, Any]] = {}
        self._writer_marker: Path | None = None
        self.index_events: list[str] = []  # what index maintenance happened (rebuilt, extended)
        self._recover()

    @property
    def text_embedder(self) -> TextEmbedder:
        """The description-text embedder (the process-wide MiniLM, `core.text_embedding`)."""
        return self._text

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self.flush()
        self.store.close()
        if self._writer_marker and self._writer_marker.exists():
            self._writer_marker.unlink()
            self._writer_marker = None

    def __enter__(self) -> VoiceLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mark_writer(self) -> None:
        if self._writer_marker is None:
            self._writer_marker = self.root / f".writer-{os.getpid()}"
            self._writer_marker.touch()

    def _recover(self) -> None:
        """After a writer died (SIGKILL, power loss): drop audio copies that no committed row
        points to. SQLite itself rolls back the uncommitted transaction."""
        dead = []
        for m in self.root.glob(".writer-*"):
            try:
                pid = int(m.name.split("-", 1)[1])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                dead.append(m)
        if dead:
            live = [m for m in self.root.glob(".writer-*") if m not in dead]
            if not live:
                self.sweep_orphans()
                for tmp in (self.root / "index").glob(".tmp-*"):
                    tmp.unlink(missing_ok=True)
            for m in dead:
                m.unlink(missing_ok=True)

    def sweep_orphans(self) -> int:
        hashes = {r[0] for r in self.store.db.execute("SELECT content_hash FROM voices")}
        removed = 0
        for f in (self.root / "audio").rglob("*"):
            if f.is_file() and (f.name.startswith(".tmp-") or f.stem not in hashes):
                f.unlink(missing_ok=True)
                removed += 1
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
        vecs = []
        for p in paths:
            y, sr, _ = load_audio(p)
            vecs.append(self.speaker_embedder.embed(resample(y, sr, ANALYSIS_RATE)))
        return l2norm(np.mean(vecs, axis=0))

    # -- rows -> Voice --------------------------------------------------------------------
    def _voice(self, row: sqlite3.Row) -> Voice:
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
            audio_path=str(self.root / row["audio_file"]),
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

    def get(self, voice_id: str) -> Voice | None:
        row = self.store.row("id=?", (voice_id,))
        return self._voice(row) if row else None

    def find_by_name(self, name: str) -> Voice | None:
        row = self.store.row("name_lc=? ORDER BY rowid LIMIT 1", (name.strip().lower(),))
        return self._voice(row) if row else None

    def resolve(self, ref: str) -> Voice | None:
        """A voice by id, else by name."""
        return self.get(ref) or self.find_by_name(ref)

    def count(self) -> int:
        return self.store.count()

    def _where(self, filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
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
                clauses.append("duration_s >= ?" if k == "min_duration" else "duration_s <= ?")
                args.append(float(value))
            else:
                known = ", ".join([*FILTER_FIELDS, "tag", "min_duration", "max_duration"])
                raise ValueError(f"filter {key}: unknown field (known: {known})")
        return " AND ".join(clauses), args

    def list(self, filters: dict[str, Any] | None = None) -> list[Voice]:
        where, args = self._where(filters)
        return [self._voice(r) for r in self.store.rows(where, args)]

    # -- add ------------------------------------------------------------------------------
    def _prepare(self, path: Path) -> dict[str, Any]:
        y, sr, clipping = load_audio(path)
        h = content_hash(y, sr)
        return {"y": y, "sr": sr, "clipping": clipping, "hash": h}

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
        prep = self._prepare(p)
        existing = self.store.row("content_hash=?", (prep["hash"],))
        if existing:
            raise DuplicateVoice(str(p), self._voice(existing))
        voice, _ = self._insert(p, prep, name or p.stem, tags or [], description, attrs)
        self._persist_indexes(force=False)
        return voice

    def _check_attrs(self, attrs: dict[str, Any]) -> None:
        g = attrs.get("gender")
        if g is not None and g not in GENDERS:
            raise ValueError(f"gender {g!r}: expected one of {sorted(GENDERS)}")
        a = attrs.get("age_band")
        if a is not None and a not in AGE_BANDS:
            raise ValueError(f"age_band {a!r}: expected one of {sorted(AGE_BANDS)}")

    def _insert(
        self,
        path: Path,
        prep: dict[str, Any],
        name: str,
        tags: list[str],
        description: str,
        attrs: dict[str, Any],
        source_stat: tuple[str, int, float] | None = None,
        same_speaker_threshold: float | None = None,
    ) -> tuple[Voice, tuple[int, float] | None]:
        self._check_attrs(attrs)
        y16 = resample(prep["y"], prep["sr"], ANALYSIS_RATE)
        auto = analyze(y16, prep["clipping"])
        spk = self.speaker_embedder.embed(y16)
        nearest = None
        if same_speaker_threshold is not None and self.count():
            hits = self._knn(self.speaker_space, spk, 1, None)
            if hits:
                rid, score = next(iter(hits.items()))
                if score >= same_speaker_threshold:
                    nearest = (rid, score)
        norm, nsr = normalize(prep["y"], prep["sr"])
        h = prep["hash"]
        rel = f"audio/{h[:2]}/{h}.flac"
        self._mark_writer()
        atomic_write_flac(norm, nsr, self.root / rel)

        given_gender = attrs.get("gender")
        described = parse_request(" ".join([description or "", attrs.get("style") or "", *tags]))
        gender, gender_source = auto["gender"], "estimated"
        if given_gender:
            gender, gender_source = given_gender, "given"
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
                "source_sample_rate": prep["sr"],
            }
        )
        ts = now()
        rec = {
            "id": "v" + h[:11],
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
            "audio_file": rel,
            "content_hash": h,
            "duration_s": round(len(norm) / nsr, 3),
            "sample_rate": nsr,
            "median_f0_hz": auto["median_f0_hz"],
            "speaking_rate": auto["speaking_rate"],
            "quality": auto["quality"].model_dump_json(),
            "extra": dumps(extra),
            "created": ts,
            "updated": ts,
        }
        flat = {**rec, **extra, "tags": json.loads(rec["tags"])}
        txt = self._text.encode([describe(flat)])[0]
        with self.store.tx() as db:
            rowid = self.store.insert_voice(db, rec, {self.speaker_space: spk, TEXT_SPACE: txt})
            if source_stat:
                self.store.put_source(db, *source_stat, h)
        self._index_add(self.speaker_space, rowid, spk)
        self._index_add(TEXT_SPACE, rowid, txt)
        return self.get(rec["id"]), nearest  # type: ignore[return-value]

    # -- import ---------------------------------------------------------------------------
    def import_dir(
        self,
        directory: str | Path,
        progress: Callable[[int, int, str], None] | None = None,
        same_speaker_threshold: float = DEFAULT_SAME_SPEAKER,
        tags: list[str] | None = None,
        checkpoint_every: int = 50,
    ) -> dict[str, Any]:
        """Import every audio file under a folder (recursive). Resumable: files already imported
        are skipped by a ledger of (path, size, mtime) and by content hash; a bad file is skipped
        with its reason. Each voice is committed on its own."""
        d = Path(directory)
        if not d.is_dir():
            raise ValueError(f"{d}: not a folder")
        files = sorted(
            p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
        )
        report: dict[str, Any] = {
            "folder": str(d.resolve()),
            "files": len(files),
            "added": [],
            "already_imported": 0,
            "duplicates": [],
            "failed": [],
            "same_speaker": [],
        }
        for i, f in enumerate(files):
            if progress:
                progress(i, len(files), f.name)
            st = f.stat()
            key = str(f.resolve())
            known = self.store.source_hash(key, st.st_size, st.st_mtime)
            if known and self.store.row("content_hash=?", (known,)):
                report["already_imported"] += 1
                continue
            try:
                prep = self._prepare(f)
                dup = self.store.row("content_hash=?", (prep["hash"],))
                if dup:
                    report["duplicates"].append(
                        {"path": str(f), "id": dup["id"], "name": dup["name"]}
                    )
                    continue
                voice, nearest = self._insert(
                    f,
                    prep,
                    f.stem,
                    tags or [],
                    "",
                    {},
                    (key, st.st_size, st.st_mtime),
                    same_speaker_threshold,
                )
            except (AudioError, ValueError, RuntimeError, OSError) as e:
                msg = str(e)
                report["failed"].append(
                    {"path": str(f), "reason": msg if str(f) in msg else f"{f}: {msg}"}
                )
                continue
            report["added"].append({"id": voice.id, "name": voice.name, "path": str(f)})
            if nearest:
                other = self.store.row("rowid=?", (nearest[0],))
                report["same_speaker"].append(
                    {
                        "id": voice.id,
                        "path": str(f),
                        "similar_to": other["id"],
                        "similar_name": other["name"],
                        "score": round(nearest[1], 4),
                    }
                )
            if len(report["added"]) % checkpoint_every == 0:
                self._persist_indexes(force=True)
        if progress:
            progress(len(files), len(files), "")
        self._persist_indexes(force=True)
        report["total"] = self.count()
        return report

    # -- curation -------------------------------------------------------------------------
    def update(
        self,
        voice_id: str,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
        **fields: Any,
    ) -> Voice:
        """Change tags, name, description or attributes; the text embedding follows."""
        v = self.resolve(voice_id)
        if v is None:
            raise KeyError(f"{voice_id}: no such voice")
        self._check_attrs(fields)
        tags = (set(v.tags) | {t.strip() for t in add_tags or [] if t.strip()}) - set(
            remove_tags or []
        )
        cols: dict[str, Any] = {"tags": dumps(sorted(tags)), "updated": now()}
        allowed = {
            "name",
            "description",
            "language",
            "gender",
            "age_band",
            "style",
            "source",
            "license",
        }
        for k, val in fields.items():
            if val is None:
                continue
            if k not in allowed:
                raise ValueError(f"{k}: not an editable field ({', '.join(sorted(allowed))})")
            cols[k] = val
            if k == "name":
                cols["name_lc"] = str(val).lower()
            if k == "gender":
                cols["gender_source"] = "given"
        if "gender" not in cols and v.gender_source != "given":
            words = " ".join(
                [cols.get("description", v.description), cols.get("style") or v.style or "", *tags]
            )
            described = parse_request(words).get("gender")
            if described:
                cols.update(gender=described, gender_source="description")
            elif v.gender_source == "description":
                cols.update(gender=v.extra.get("gender_estimated"), gender_source="estimated")
        row = self.store.row("id=?", (v.id,))
        merged = {
            **self._voice(row).attributes(),
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
        self._indexes.pop(TEXT_SPACE, None)
        return self.get(v.id)  # type: ignore[return-value]

    def remove(self, voice_id: str) -> Voice:
        v = self.resolve(voice_id)
        if v is None:
            raise KeyError(f"{voice_id}: no such voice")
        self._mark_writer()
        with self.store.tx() as db:
            db.execute("DELETE FROM voices WHERE id=?", (v.id,))
            db.execute("DELETE FROM sources WHERE content_hash=?", (v.content_hash,))
            self.store.bump(db, deleted=True)
        Path(v.audio_path).unlink(missing_ok=True)
        self._indexes.clear()
        return v

    # -- indexes --------------------------------------------------------------------------
    def _index_path(self, space: str) -> Path:
        return self.root / "index" / (space.replace(":", "-") + ".faiss")

    def _index_add(self, space: str, rowid: int, vec: np.ndarray) -> None:
        st = self._indexes.get(space)
        if st is None:
            return  # built lazily from SQLite on the next search
        gen, del_gen = self.store.gens()
        if (
            st["index"] is None
            or st["del_gen"] != del_gen
            or st["gen"] + 1 != gen
            or st["max_rowid"] >= rowid
        ):
            self._indexes.pop(space, None)
            return
        st["index"].add_with_ids(vec[None].astype(np.float32), np.array([rowid], dtype=np.int64))
        st.update(gen=gen, max_rowid=rowid, dirty=True)

    def _persist_indexes(self, force: bool) -> None:
        for space, st in self._indexes.items():
            if st.get("dirty") and (force or st["index"].ntotal <= vindex.FLAT_MAX):
                self._save_index(space, st)

    def flush(self) -> None:
        self._persist_indexes(force=True)

    def _save_index(self, space: str, st: dict[str, Any]) -> None:
        meta = {k: st[k] for k in ("gen", "del_gen", "max_rowid")}
        meta["space"] = space
        if vindex.index_kind(st["index"]) == "ivf":
            meta["nprobe"] = faiss_nprobe(st["index"])
        try:
            vindex.save(st["index"], self._index_path(space), meta)
            st["dirty"] = False
        except OSError as e:  # a read-only library still searches (index kept in memory)
            log.warning("cannot save index %s: %s", space, e)

    def _compute_missing(self, space: str) -> int:
        """Embeddings a voice lacks in `space` (the speaker model was switched), from its audio."""
        rows = self.store.missing_embeddings(space)
        for row in rows:
            if space == TEXT_SPACE:
                vec = self._text.encode([describe(self._voice(row).attributes())])[0]
            else:
                y, sr, _ = load_audio(self.root / row["audio_file"])
                vec = self.speaker_embedder.embed(resample(y, sr, ANALYSIS_RATE))
            self._mark_writer()
            with self.store.tx() as db:
                self.store.put_embedding(db, row["rowid"], space, vec)
                self.store.bump(db)
        return len(rows)

    def _build(self, space: str) -> dict[str, Any]:
        self._compute_missing(space)
        gen, del_gen = self.store.gens()
        ids, vecs = self.store.embeddings(space)
        if len(ids) == 0:
            return {"index": None, "gen": gen, "del_gen": del_gen, "max_rowid": 0, "dirty": False}
        index = vindex.build_index(vecs, ids)
        st = {
            "index": index,
            "gen": gen,
            "del_gen": del_gen,
            "max_rowid": int(ids.max()),
            "dirty": True,
        }
        self._save_index(space, st)
        return st

    def _ensure_index(self, space: str) -> dict[str, Any]:
        gen, del_gen = self.store.gens()
        st = self._indexes.get(space)
        if st is not None and st["gen"] == gen and st["del_gen"] == del_gen:
            return st
        if st is None:
            try:
                loaded = vindex.load(self._index_path(space))
            except vindex.CorruptIndex as e:
                self.index_events.append(f"rebuilt {space}: {e}")
                log.warning("voice index damaged, rebuilding: %s", e)
                loaded = None
            if loaded is not None:
                index, meta = loaded
                st = {
                    "index": index,
                    "gen": meta["gen"],
                    "del_gen": meta["del_gen"],
                    "max_rowid": meta["max_rowid"],
                    "dirty": False,
                }
        if (
            st is not None
            and st["index"] is not None
            and st["del_gen"] == del_gen
            and st["gen"] <= gen
        ):
            if st["gen"] < gen:  # extend with what was committed since (e.g. by another process)
                ids, vecs = self.store.embeddings(space, min_rowid=st["max_rowid"])
                if len(ids):
                    st["index"].add_with_ids(vecs, ids)
                    st["max_rowid"] = int(ids.max())
                    self.index_events.append(f"extended {space} by {len(ids)}")
                st["gen"] = gen
                st["dirty"] = True
                self._save_index(space, st)
        else:
            if st is not None:
                self.index_events.append(f"rebuilt {space}: behind the database")
            st = self._build(space)
        self._indexes[space] = st
        return st

    def rebuild_index(self) -> dict[str, Any]:
        """Drop and rebuild every index from SQLite; compute embeddings that are missing (e.g.
        after switching the speaker embedder) from the stored audio."""
        self._mark_writer()
        orphans = self.sweep_orphans()
        computed = self._compute_missing(self.speaker_space) + self._compute_missing(TEXT_SPACE)
        out = {
            "voices": self.count(),
            "orphans_removed": orphans,
            "embeddings_computed": computed,
            "indexes": {},
        }
        self._indexes.clear()
        for space in (self.speaker_space, TEXT_SPACE):
            for suffix in ("", ".json"):
                Path(str(self._index_path(space)) + suffix).unlink(missing_ok=True)
            st = self._build(space)
            self._indexes[space] = st
            out["indexes"][space] = {
                "kind": vindex.index_kind(st["index"]) if st["index"] is not None else None,
                "vectors": int(st["index"].ntotal) if st["index"] is not None else 0,
            }
        return out

    def _knn(self, space: str, q: np.ndarray, k: int, allowed: set[int] | None) -> dict[int, float]:
        """rowid -> cosine for the k nearest in one space (exact when a filter leaves few)."""
        if allowed is not None and len(allowed) <= EXACT_MAX:
            ids, vecs = self.store.embeddings(space, rowids=sorted(allowed))
            if len(ids) == 0:
                return {}
            s = vecs @ q.astype(np.float32)
            top = np.argsort(-s)[:k]
            return {int(ids[i]): float(s[i]) for i in top}
        st = self._ensure_index(space)
        if st["index"] is None:
            return {}
        kk = k if allowed is None else k * 20
        scores, ids = vindex.search(st["index"], q, kk)
        out = {}
        for s, i in zip(scores[0], ids[0], strict=True):
            if i >= 0 and (allowed is None or int(i) in allowed):
                out[int(i)] = float(s)
        return dict(list(out.items())[:k])

    # -- search ---------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        audio: list[str | Path] | None = None,
        filters: dict[str, Any] | None = None,
        top_k: int = 5,
    ) -> list[VoiceHit]:
        """Voices by example audio (speaker similarity), by description (MiniLM similarity of
        the voice's description text combined with matching of gender/age/pitch/pace words
        against given or estimated attributes), by attribute filters, or any combination.
        Scores: cosine for audio; 0.5*text similarity + 0.5*attribute match for text with
        attribute words; the mean of both when both are given."""
        if top_k <= 0 or self.count() == 0:
            return []
        allowed = None
        if filters:
            where, args = self._where(filters)
            allowed = {
                int(r[0])
                for r in self.store.db.execute(f"SELECT rowid FROM voices WHERE {where}", args)
            }
            if not allowed:
                return []
        parts: list[dict[int, float]] = []
        q_audio = self.embed_audio(list(audio)) if audio else None
        pool = max(top_k * 20, 100)
        if q_audio is not None:
            parts.append(self._knn(self.speaker_space, q_audio, pool if text else top_k, allowed))
        if text and text.strip():
            qt = self._text.encode([text])[0]
            sims = self._knn(TEXT_SPACE, qt, pool, allowed)
            wanted = parse_request(text)
            if wanted:  # voices whose attributes match also enter the pool, not only close texts
                extra_where = " AND ".join(
                    f"lower(coalesce({'gender' if a == 'gender' else 'age_band'}, ''))=?"
                    for a in wanted
                    if a in ("gender", "age_band")
                )
                if extra_where:
                    vals = [wanted[a] for a in wanted if a in ("gender", "age_band")]
                    rows = self.store.db.execute(
                        f"SELECT rowid FROM voices WHERE {extra_where} LIMIT ?", [*vals, pool]
                    ).fetchall()
                    missing = [
                        int(r[0])
                        for r in rows
                        if int(r[0]) not in sims and (allowed is None or int(r[0]) in allowed)
                    ]
                    if missing:
                        ids, vecs = self.store.embeddings(TEXT_SPACE, rowids=missing)
                        sims.update({int(i): float(s) for i, s in zip(ids, vecs @ qt, strict=True)})
                scored = {}
                for rid, sim in sims.items():
                    attrs = self._voice(self.store.row("rowid=?", (rid,))).attributes()
                    scored[rid] = 0.5 * sim + 0.5 * attribute_match(wanted, attrs)
                sims = scored
            parts.append(sims)
        if not parts:  # filters only
            rows = sorted(allowed or [])[:top_k]
            parts.append({r: 1.0 for r in rows})
        if len(parts) == 2:  # fill in the other score for candidates found by one side only
            a, t = parts
            for rid in set(t) - set(a):
                ids, vecs = self.store.embeddings(self.speaker_space, rowids=[rid])
                if len(ids):
                    a[rid] = float(vecs[0] @ q_audio)
            combined = {rid: 0.5 * (a.get(rid, 0.0) + t.get(rid, 0.0)) for rid in set(a) | set(t)}
        else:
            combined = parts[0]
        best = sorted(combined.items(), key=lambda kv: -kv[1])[:top_k]
        hits = []
        for rid, score in best:
            row = self.store.row("rowid=?", (rid,))
            if row is None:
                continue
            v = self._voice(row)
            hits.append(
                VoiceHit(id=v.id, name=v.name, score=float(score), attributes=v.attributes())
            )
        return hits


def faiss_nprobe(index: Any) -> int:
    import faiss

    return int(faiss.extract_index_ivf(index).nprobe)
