"""`stepvox voices ...`: the voice library (add, import, list, show, search, tag, remove; the
whole-library commands are in `cli_voices_curation`). `--json` prints one JSON document.
Bad input: one line on stderr naming it, exit 2, the library unchanged."""

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
    from voices.writer import LibraryBusy

    lib = open_library(library, speaker_embedder)
    try:
        yield lib
    except KeyError as e:
        raise UserError(str(e.args[0])) from None
    except (ValueError, LibraryBusy) as e:  # AudioError, DuplicateVoice, ArchiveError too
        raise UserError(str(e)) from None
    finally:
        lib.close()


def _in_range(option: str, value: float, low: float, high: float) -> None:
    """A numeric option within [low, high] (NaN is not)."""
    if not low <= value <= high:
        raise UserError(f"{option} {value}: expected a number from {low:g} to {high:g}")


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
    if not file.is_file():
        raise UserError(f"{file}: no such file")
    with _lib(library) as lib:
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
    """Import a folder: resumable, skips exact duplicates, skips bad files with their reason
    (exit 2 when the folder has no audio file or none of its files could be imported)."""
    from voices.importer import audio_files

    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    _in_range("--same-speaker-threshold", same_speaker, -1.0, 1.0)
    if not audio_files(folder):
        raise UserError(f"{folder}: no audio files (wav, flac, ogg, mp3, m4a, opus, aiff) in it")
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
    if rep["failed"] and not (rep["added"] or rep["already_imported"] or rep["duplicates"]):
        first = rep["failed"][0]["reason"]
        raise UserError(f"{folder}: nothing imported, {len(rep['failed'])} files failed ({first})")
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
    top: int = typer.Option(5, "--top", "--k", "-k", help="results per query (1-1000)"),
    combine: bool = typer.Option(
        False, "--combine", help="one query from all --audio and --text together"
    ),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Search by example audio, by description, by filters, or combined. One entry per query."""
    _in_range("--top/--k", top, 1, 1000)
    audio = list(audio or [])
    text = list(text or [])
    if extra:
        if audio:
            audio += [Path(e) for e in extra]
        elif text:
            text[-1] = " ".join([text[-1], *extra])
        else:
            raise UserError(f"{extra[0]}: give --audio FILE or --text TEXT")
    from voices.audio import AudioError, load_audio
    from voices.records import where_clause

    flt = _filters(filters)
    try:
        where_clause(flt)  # unknown filters and bad files are refused before any model loads
        for a in audio:
            load_audio(a)
    except (AudioError, ValueError) as e:
        raise UserError(str(e)) from None
    if not audio and not text and not flt:
        raise UserError("search: give --audio FILE, --text TEXT or --filter key=value")
    queries: list[dict[str, Any]] = []
    if combine or (not audio and not text):
        queries.append({"audio": [str(a) for a in audio] or None, "text": " ".join(text) or None})
    else:
        queries += [{"audio": [str(a)], "text": None} for a in audio]
        queries += [{"audio": None, "text": t} for t in text]
    out = []
    with _lib(library) as lib:
        for q in queries:
            hits = lib.search(text=q["text"], audio=q["audio"], filters=flt or None, top_k=top)
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


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add `stepvox voices ...` to the root app (assistant.cli imports cli_voices_curation,
    whose commands join `voices_app`)."""
    app.add_typer(voices_app, name="voices")
