"""`stepvox voices dedupe|check|export|import-archive|rebuild-index`: commands over the whole
voice library (registered on `cli_voices.voices_app`)."""

from __future__ import annotations

from pathlib import Path

import typer

from assistant.cli_voices import JSON, LIBRARY, _emit, _in_range, _lib, _token2wav_dir, voices_app
from assistant.errors import UserError


@voices_app.command("dedupe")
def dedupe_cmd(
    threshold: float = typer.Option(0.85, "--threshold", help="speaker cosine for 'same speaker'"),
    library: Path = LIBRARY,
    as_json: bool = JSON,
) -> None:
    """Cluster clips of the same speaker (report only; nothing is deleted)."""
    from voices.curation import dedupe

    _in_range("--threshold", threshold, -1.0, 1.0)

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
    if file.is_dir():
        raise UserError(f"{file}: is a folder; give the archive's file name")
    from voices.archive import export_archive

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
    """Import an archive written by `voices export`: everything in it is checked before
    anything is added; voices keep their ids, attributes and embeddings."""
    from voices.archive import import_archive

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
