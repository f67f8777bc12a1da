"""`stepvox voices ...`: curate the voice library (add, import, list, show, search, tag, remove,
dedupe, check, export, import-archive, rebuild-index). `--json` prints one JSON document."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from assistant.errors import UserError

voices_app = typer.Typer(
    no_args_is_help=True, help="The voice library: add, import, search, curate"
)

LIBRARY = typer.Option(None, "--library", help="library folder (default: $STEPVOX_HOME/voices)")
JSON = typer.Option(False, "--json", help="print one JSON document")


def _token2wav_dir() -> Path | None:
    from core.settings import get_settings

    s = get_settings()
    explicit = getattr(s, "token2wav_dir", None)
    if explicit:
        return Path(explicit)
    if s.model_dir and (Path(s.model_dir) / "token2wav" / "campplus.onnx").is_file():
        return Path(s.model_dir) / "token2wav"
    return None


def open_library(library: Path | None, speaker_embedder: str | None = None):
    from voices import VoiceLibrary

    if library is None:
        from core.settings import get_settings

        library = get_settings().voices_dir
    if library.exists() and not library.is_dir():
        raise UserError(f"{library}: not a folder")
    try:
        return VoiceLibrary(
            library, speaker_embedder=speaker_embedder, token2wav_dir=_token2wav_dir()
        )
    except (OSError, ValueError) as e:
        raise UserError(f"{library}: cannot open voice library ({e})") from None


@contextmanager
def _lib(library: Path | None, speaker_embedder: str | None = None):
    lib = open_library(library, speaker_embedder)
    try:
        yield lib
    except KeyError as e:
        raise UserError(str(e.args[0])) from None
    except ValueError as e:
        raise UserError(str(e)) from None
    finally:
        lib.close()


def _emit(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def _voice_doc(v) -> dict[str, Any]:
    return {"id": v.id, "name": v.name, **v.attributes()}


def _filters(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items or []:
        if "=" not in it:
            raise UserError(f"--filter {it}: expected key=value")
        k, v = it.split("=", 1)
        k = k.strip()
        if k in ("tag", "tags"):
            out.setdefault("tag", []).append(v.strip())
        else:
            out[k] = v.strip()
    return out


def _split_tags(tags: list[str] | None) -> list[str]:
    return [t.strip() for group in tags or [] for t in group.split(",") if t.strip()]


def _summary_line(v) -> str:
    f0 = f"{v.median_f0_hz:.0f} Hz" if v.median_f0_hz else "-"
    return f"{v.id}  {v.name:<24} {v.gender or '?':<6} F0 {f0:<7} {v.duration_s:5.1f}s  {v.quality.verdict:<4}  {', '.join(v.tags)}"


@voices_app.command("add")
def add_cmd(
    file: Path = typer.Argument(..., help="audio file (wav, flac, ogg, mp3, ...)"),
    name: str = typer.Option(None, "--name", help="display name (default: file name)"),
    tags: list[str] = typer.Option(None, "--tags", help="tags, repeatable or comma separated"),
    description: str = typer.Option("", "--description", help="how the voice sounds"),
    gender: str = typer.Option(None, "--gender", help="female | male (default: estimated)"),
    age_band: str = typer.Option(
        None, "--age-band", help="child | young | adult | middle-aged | older"
    ),
    style: str = typer.Option(None, "--style", help="style or emotion, e.g. calm, cheerful"),
    language: str = typer.Option(None, "--language"),
    license: str = typer.Option(None, "--license"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Add one clip with automatic attributes and a quality verdict."""
    from voices import AudioError, DuplicateVoice

    with _lib(library) as lib:
        try:
            v = lib.add(
                file,
                name=name,
                tags=_split_tags(tags),
                description=description,
                gender=gender,
                age_band=age_band,
                style=style,
                language=language,
                license=license,
            )
        except DuplicateVoice as e:
            raise UserError(str(e)) from None
        except AudioError as e:
            raise UserError(str(e)) from None
        if as_json:
            _emit(_voice_doc(v))
        else:
            typer.echo(f"added {_summary_line(v)}")
            for r in v.quality.reasons:
                typer.echo(f"  quality: {r}")


@voices_app.command("import")
def import_cmd(
    folder: Path = typer.Argument(..., help="folder to import recursively"),
    tags: list[str] = typer.Option(None, "--tags", help="tags for every imported voice"),
    same_speaker: float = typer.Option(
        0.85,
        "--same-speaker-threshold",
        help="report clips at least this similar to a stored voice",
    ),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Import a folder: resumable, skips exact duplicates, skips bad files with their reason."""
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    with _lib(library) as lib:
        show = not as_json and sys.stderr.isatty()
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                transient=True,
            ) as prog:
                task = prog.add_task("", total=None)

                def cb(i: int, n: int, name: str) -> None:
                    prog.update(task, completed=i, total=n, description=name)

                rep = lib.import_dir(
                    folder, progress=cb, same_speaker_threshold=same_speaker, tags=_split_tags(tags)
                )
        else:
            rep = lib.import_dir(
                folder, same_speaker_threshold=same_speaker, tags=_split_tags(tags)
            )
    if as_json:
        _emit(rep)
        return
    typer.echo(
        f"{len(rep['added'])} added, {rep['already_imported']} already imported, "
        f"{len(rep['duplicates'])} duplicates, {len(rep['failed'])} failed; library has {rep['total']} voices"
    )
    for f in rep["failed"]:
        typer.echo(f"  skipped {f['reason']}")
    for s in rep["same_speaker"]:
        typer.echo(
            f"  likely same speaker: {s['path']} ~ {s['similar_to']} ({s['similar_name']}) {s['score']:.2f}"
        )


@voices_app.command("list")
def list_cmd(
    filters: list[str] = typer.Option(
        None, "--filter", help="key=value (gender, age_band, style, language, quality, tag, ...)"
    ),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """List voices, optionally filtered."""
    with _lib(library) as lib:
        vs = lib.list(_filters(filters))
    if as_json:
        _emit([_voice_doc(v) for v in vs])
    else:
        for v in vs:
            typer.echo(_summary_line(v))
        typer.echo(f"{len(vs)} voices")


@voices_app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help="voice id or name"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Everything stored about one voice."""
    with _lib(library) as lib:
        v = lib.resolve(ref)
    if v is None:
        raise UserError(f"{ref}: no such voice")
    if as_json:
        _emit(_voice_doc(v) | {"quality_metrics": v.quality.model_dump()})
    else:
        for k, val in _voice_doc(v).items():
            typer.echo(f"{k:>18}: {val}")


@voices_app.command("search")
def search_cmd(
    extra: list[str] = typer.Argument(None, help="more files for --audio (or words for --text)"),
    audio: list[Path] = typer.Option(None, "--audio", help="example clip(s): who sounds like this"),
    text: list[str] = typer.Option(None, "--text", help="a description: 'calm low male voice'"),
    filters: list[str] = typer.Option(None, "--filter", help="key=value attribute filter"),
    top: int = typer.Option(5, "--top", help="results per query"),
    combine: bool = typer.Option(
        False, "--combine", help="one query from all --audio and --text together"
    ),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Search by example audio, by description, by filters, or combined. One entry per query."""
    audio = list(audio or [])
    text = list(text or [])
    if extra:
        if audio:
            audio += [Path(e) for e in extra]
        elif text:
            text[-1] = " ".join([text[-1], *extra])
        else:
            raise UserError(f"{extra[0]}: give --audio FILE or --text TEXT")
    for a in audio:
        if not a.is_file():
            raise UserError(f"{a}: no such file")
    flt = _filters(filters)
    if not audio and not text and not flt:
        raise UserError("search: give --audio FILE, --text TEXT or --filter key=value")
    queries: list[dict[str, Any]] = []
    if combine or (not audio and not text):
        queries.append({"audio": [str(a) for a in audio] or None, "text": " ".join(text) or None})
    else:
        queries += [{"audio": [str(a)], "text": None} for a in audio]
        queries += [{"audio": None, "text": t} for t in text]
    from voices import AudioError

    out = []
    with _lib(library) as lib:
        for q in queries:
            try:
                hits = lib.search(text=q["text"], audio=q["audio"], filters=flt or None, top_k=top)
            except AudioError as e:
                raise UserError(str(e)) from None
            query = {k: v for k, v in q.items() if v} | ({"filters": flt} if flt else {})
            out.append({"query": query, "results": [h.to_json() for h in hits]})
    if as_json:
        _emit(out)
        return
    for entry in out:
        typer.echo(f"query: {entry['query']}")
        for r in entry["results"]:
            typer.echo(
                f"  {r['score']:.3f}  {r['id']}  {r['name']:<24} {r.get('gender') or '?':<6} {r.get('style') or ''}"
            )
        if not entry["results"]:
            typer.echo("  (no voices)")


@voices_app.command("tag")
def tag_cmd(
    ref: str = typer.Argument(..., help="voice id or name"),
    add: list[str] = typer.Option(None, "--add", help="tags to add"),
    remove: list[str] = typer.Option(None, "--remove", help="tags to remove"),
    name: str = typer.Option(None, "--name"),
    description: str = typer.Option(None, "--description"),
    gender: str = typer.Option(None, "--gender"),
    age_band: str = typer.Option(None, "--age-band"),
    style: str = typer.Option(None, "--style"),
    language: str = typer.Option(None, "--language"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Edit tags and descriptive fields of a voice."""
    with _lib(library) as lib:
        v = lib.update(
            ref,
            add_tags=_split_tags(add),
            remove_tags=_split_tags(remove),
            name=name,
            description=description,
            gender=gender,
            age_band=age_band,
            style=style,
            language=language,
        )
    if as_json:
        _emit(_voice_doc(v))
    else:
        typer.echo(_summary_line(v))


@voices_app.command("remove")
def remove_cmd(
    ref: str = typer.Argument(..., help="voice id or name"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Remove a voice and its stored audio."""
    with _lib(library) as lib:
        v = lib.remove(ref)
        total = lib.count()
    if as_json:
        _emit({"removed": v.id, "name": v.name, "total": total})
    else:
        typer.echo(f"removed {v.id} ({v.name}); {total} voices left")


@voices_app.command("dedupe")
def dedupe_cmd(
    threshold: float = typer.Option(0.85, "--threshold", help="speaker cosine for 'same speaker'"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Cluster clips of the same speaker (report only; nothing is deleted)."""
    from voices.curation import dedupe

    with _lib(library) as lib:
        rep = dedupe(lib, threshold)
    if as_json:
        _emit(rep)
        return
    for c in rep["clusters"]:
        typer.echo(
            f"{len(c['ids'])} clips ({c['min_score']:.2f}-{c['max_score']:.2f}): "
            + ", ".join(f"{i} {n}" for i, n in zip(c["ids"], c["names"], strict=True))
        )
    typer.echo(f"{len(rep['clusters'])} same-speaker clusters among {rep['voices']} voices")


@voices_app.command("check")
def check_cmd(library: Path = LIBRARY, as_json: bool = JSON) -> None:
    """Quality report and integrity check (audio files, indexes; a damaged index is rebuilt)."""
    from voices.curation import check

    with _lib(library) as lib:
        rep = check(lib)
    if as_json:
        _emit(rep)
        return
    typer.echo(
        f"{rep['voices']} voices: "
        + ", ".join(f"{n} {k}" for k, n in sorted(rep["verdicts"].items()))
    )
    for i in rep["issues"]:
        typer.echo(f"  {i['verdict']:<4} {i['id']} {i['name']}: {'; '.join(i['reasons'])}")
    integ = rep["integrity"]
    for k in ("missing_audio", "unreadable_audio"):
        if integ[k]:
            typer.echo(f"  {k.replace('_', ' ')}: {', '.join(integ[k])}")
    for space, st in integ["indexes"].items():
        typer.echo(f"  index {space}: {st['vectors']} vectors {'; '.join(st['events'])}")


@voices_app.command("export")
def export_cmd(
    file: Path = typer.Argument(..., help="archive to write (.tar)"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Write a portable, checksummed archive of the library."""
    from voices.curation import export_archive

    with _lib(library) as lib:
        rep = export_archive(lib, file)
    _emit(rep) if as_json else typer.echo(
        f"exported {rep['voices']} voices to {rep['archive']} ({rep['bytes']} bytes)"
    )


@voices_app.command("import-archive")
def import_archive_cmd(
    file: Path = typer.Argument(..., help="archive written by `voices export`"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Import an archive (every checksum is verified before anything is added)."""
    from voices.curation import import_archive

    if not file.is_file():
        raise UserError(f"{file}: no such file")
    with _lib(library) as lib:
        rep = import_archive(lib, file)
    if as_json:
        _emit(rep)
    else:
        typer.echo(
            f"{len(rep['added'])} added, {rep['already_present']} already present, {len(rep['failed'])} failed; {rep['total']} voices"
        )


@voices_app.command("rebuild-index")
def rebuild_cmd(
    embedder: str = typer.Option(
        None,
        "--embedder",
        help="switch the speaker embedder: resemblyzer | campplus (needs a token2wav folder)",
    ),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Rebuild the FAISS indexes from SQLite (and compute any missing embeddings)."""
    if embedder not in (None, "resemblyzer", "campplus"):
        raise UserError(f"--embedder {embedder}: expected resemblyzer or campplus")
    if embedder == "campplus" and _token2wav_dir() is None:
        raise UserError(
            "--embedder campplus: no token2wav folder with campplus.onnx configured (STEPVOX_MODEL_DIR)"
        )
    with _lib(library, embedder) as lib:
        rep = lib.rebuild_index()
    if as_json:
        _emit(rep)
    else:
        typer.echo(
            f"{rep['voices']} voices; "
            + ", ".join(f"{s}: {d['kind']} {d['vectors']}" for s, d in rep["indexes"].items())
        )


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add `stepvox voices ...` to the root app."""
    app.add_typer(voices_app, name="voices")
