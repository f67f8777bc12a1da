"""`stepvox corpus add|list|query|remove`: text corpora for retrieval (RAG).

The corpora live in `$STEPVOX_HOME/corpora` (settings: `corpora_dir`); `--home DIR`
uses DIR/corpora instead.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from assistant.errors import UserError

corpus_app = typer.Typer(no_args_is_help=True, help="Text corpora for retrieval (RAG)")

_HOME = typer.Option(None, "--home", help="stepvox home directory (default: $STEPVOX_HOME)")
_JSON = typer.Option(False, "--json", help="print one JSON document")
_EMBEDDER = typer.Option(
    None, "--embedder", help="sentence-transformers model name or path (default: offline MiniLM)"
)


def _corpora_dir(home: Path | None) -> Path:
    if home is not None:
        home = Path(home).expanduser()
        if home.exists() and not home.is_dir():
            raise UserError(f"--home {home}: not a directory")
        return home / "corpora"
    from core.settings import get_settings

    return get_settings().corpora_dir


def _open(home: Path | None, embedder: str | None = None, reranker: str | None = None):  # noqa: ANN202
    from retrieval import CorpusStore

    root = _corpora_dir(home)
    try:
        return CorpusStore(root, embedder=embedder, reranker=reranker)
    except ValueError as e:
        raise UserError(str(e)) from None


def _nothing_added(paths: list[Path], report) -> str:  # noqa: ANN001
    """The one line for an add that changed nothing and found nothing it could read."""
    from retrieval.loaders import SUPPORTED_SUFFIXES

    first = paths[0]
    if report.skipped:
        src, reason = report.skipped[0]
        if len(report.skipped) == 1:
            return f"{src}: {reason}"
        return f"{first}: nothing added, {len(report.skipped)} files skipped (first: {src}: {reason})"
    kinds = " ".join(sorted(SUPPORTED_SUFFIXES))
    return f"{first}: no files to add (supported: {kinds})"


def _emit(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def add(
    paths: list[Path] = typer.Argument(..., help="files or folders (txt, md, html, pdf)"),
    name: str = typer.Option("default", "--name", "-n", help="corpus name"),
    home: Path | None = _HOME,
    embedder: str | None = _EMBEDDER,
    as_json: bool = _JSON,
) -> None:
    """Ingest files and folders; re-adding updates changed files and drops deleted ones."""
    from rich.console import Console

    from core.settings import get_settings
    from retrieval.ingest import check_corpus_name

    try:
        check_corpus_name(name)
    except ValueError as e:
        raise UserError(f"--name: {e}") from None
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if len(missing) == len(paths):
        raise UserError(f"{missing[0]}: no such file or directory")
    embedder = embedder or get_settings().embedder
    store = _open(home, embedder)
    err = Console(stderr=True)
    show_bar = not as_json and err.is_terminal
    try:
        if show_bar:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            with Progress(
                TextColumn("ingest"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("", total=None)

                def progress(done: int, total: int, path: str) -> None:
                    bar.update(task, completed=done, total=total, description=Path(path).name[:40])

                report = store.add(paths, name=name, progress=progress)
        else:
            report = store.add(paths, name=name)
    except ValueError as e:
        raise UserError(str(e)) from None
    if not (report.added or report.updated or report.removed or report.unchanged):
        raise UserError(_nothing_added(paths, report))
    if as_json:
        _emit(report.model_dump())
        return
    out = Console()
    out.print(
        f"corpus [bold]{report.corpus}[/]: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged, "
        f"{len(report.skipped)} skipped; {report.chunks_added} chunks indexed in {report.seconds:.1f} s"
    )
    shown = 20
    for path, reason in report.skipped[:shown]:
        out.print(f"  skipped {path}: {reason}", markup=False, highlight=False)
    if len(report.skipped) > shown:
        out.print(f"  ... and {len(report.skipped) - shown} more skipped (see --json)")


def list_(
    home: Path | None = _HOME,
    documents: bool = typer.Option(False, "--documents", "-d", help="list every document"),
    as_json: bool = _JSON,
) -> None:
    """List corpora (or, with --documents, their documents)."""
    store = _open(home)
    rows = store.documents() if documents else store.list()
    if as_json:
        _emit({"documents": rows} if documents else {"corpora": rows})
        return
    from rich.console import Console
    from rich.table import Table

    if not rows:
        Console().print("no corpora yet: add some with `stepvox corpus add PATH...`")
        return
    if documents:
        t = Table("corpus", "source", "title", "chunks")
        for r in rows:
            t.add_row(r["corpus"], r["source"], r["title"][:60], str(r["n_chunks"]))
    else:
        t = Table("corpus", "documents", "chunks", "MB")
        for r in rows:
            t.add_row(r["name"], str(r["documents"]), str(r["chunks"]), f"{r['bytes'] / 1e6:.2f}")
    Console().print(t)


def query(
    text: str = typer.Argument(..., help="the question"),
    top: int = typer.Option(5, "--top", "-k", min=1, max=100, help="how many passages"),
    name: str | None = typer.Option(None, "--name", "-n", help="search only this corpus"),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, dense or bm25"),
    reranker: str | None = typer.Option(
        None, "--reranker", help="cross-encoder model name or path to rerank with (default: STEPVOX_RERANKER)"
    ),
    home: Path | None = _HOME,
    as_json: bool = _JSON,
) -> None:
    """Search the corpora: best passages with their sources."""
    if not text.strip():
        raise UserError("query: empty question")
    if mode not in ("hybrid", "dense", "bm25"):
        raise UserError(f"--mode {mode}: expected hybrid, dense or bm25")
    from core.settings import get_settings

    store = _open(home, reranker=reranker or get_settings().reranker)
    if name is not None and name not in {c["name"] for c in store.list()}:
        raise UserError(f"--name {name}: no such corpus")
    try:
        passages = store.search(text, top_k=top, mode=mode, corpus=name)
    except ValueError as e:
        raise UserError(str(e)) from None
    if as_json:
        _emit({"query": text, "results": [p.model_dump() for p in passages]})
        return
    from rich.console import Console

    out = Console()
    if not passages:
        out.print(
            "no passages found" + ("" if not store.is_empty() else " (the corpora are empty)")
        )
        return
    for i, p in enumerate(passages, 1):
        if not p.section or p.section == p.title:
            where = p.title
        elif p.section.startswith(p.title) or p.title.startswith(p.section.split(" > ")[0]):
            where = p.section
        else:
            where = f"{p.title} > {p.section}"
        out.print(
            f"[bold]{i}.[/] score {p.score:.4f} relevance {p.relevance:.2f}  {where}",
            highlight=False,
        )
        out.print(f"   {p.source}", markup=False, highlight=False)
        snippet = " ".join(p.text.split())
        out.print(
            f"   {snippet[:300]}{'…' if len(snippet) > 300 else ''}", markup=False, highlight=False
        )


def remove(
    target: str = typer.Argument(..., help="a corpus name, or a file or folder path"),
    home: Path | None = _HOME,
    as_json: bool = _JSON,
) -> None:
    """Remove a corpus by name, or documents by path: a file, or every file in a folder."""
    if not target.strip():
        raise UserError("remove: empty corpus name or path")
    store = _open(home)
    try:
        n = store.remove(target)
    except ValueError as e:
        raise UserError(str(e)) from None
    if n == 0:
        raise UserError(f"{target}: no corpus or indexed document by that name or path")
    if as_json:
        _emit({"removed": n, "target": target})
        return
    print(f"removed {n} document{'s' if n != 1 else ''} ({target})")


corpus_app.command("add")(add)
corpus_app.command("list")(list_)
corpus_app.command("query")(query)
corpus_app.command("remove")(remove)


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add `stepvox corpus ...` to the root app."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app.add_typer(corpus_app, name="corpus")
