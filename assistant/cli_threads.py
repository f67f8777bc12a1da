"""`stepvox threads list|show|delete|approve|deny|reply` and `stepvox prune --older-than`:
what is kept of the conversations, answering the ones paused for a person (agents.approval),
and forgetting them (checkpoints and recordings together; agents.threads)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import typer

from assistant.cli_inputs import OutputWav, check_thread
from assistant.cli_turns import _run_turn, _settings, waiting_line
from assistant.errors import UserError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
MAX_DURATION_S = 100 * 365 * 86400


def parse_duration(text: str, option: str = "--older-than") -> float:
    """'12h', '30d', '2w', '90m', '45s' -> seconds (> 0); UserError naming `option` otherwise."""
    m = DURATION.fullmatch(text.strip())
    if m is None:
        raise UserError(f"{option} {text!r}: not a duration (a number and a unit s, m, h, d or w: 12h, 30d, 2w)")
    seconds = float(m.group(1)) * UNITS[m.group(2)]
    if seconds <= 0:
        raise UserError(f"{option} {text!r}: must be longer than zero")
    if seconds > MAX_DURATION_S:
        raise UserError(f"{option} {text!r}: longer than 100 years")
    return seconds


def _store():
    from core.settings import get_settings

    s = get_settings()  # bad settings are refused before the stack loads

    from agents.threads import ThreadStore

    return ThreadStore.from_settings(s)  # STEPVOX_CHECKPOINTER: SQLite under home, or PostgreSQL


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _when(info: Any) -> str:
    return info.last_activity.strftime("%Y-%m-%d %H:%M UTC") if info.last_activity else "-"


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    threads_app = typer.Typer(no_args_is_help=True, help="Conversations kept: list, show and delete them; approve, deny or answer the ones waiting for a person")
    app.add_typer(threads_app, name="threads")

    @threads_app.command("list")
    def list_threads(as_json: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
        """Every conversation: id, turns, last activity (UTC), size of its recordings, and what
        it waits for (approval, or a person's answer)."""
        store = _store()
        try:
            infos = store.list()
        finally:
            store.close()
        if as_json:
            print(json.dumps([i.as_json() for i in infos], indent=2))
            return
        if not infos:
            print("no conversations")
            return
        width = max(6, *(len(i.id) for i in infos))
        print(f"{'THREAD':{width}}  {'TURNS':>5}  {'LAST ACTIVITY':20}  {'AUDIO':>9}  WAITING")
        for i in infos:
            w = i.waiting["kind"] if i.waiting else "-"
            print(f"{i.id:{width}}  {i.turns:>5}  {_when(i):20}  {_size(i.audio_bytes):>9}  {w}")

    @threads_app.command("show")
    def show_thread(
        thread_id: str = typer.Argument(..., metavar="ID", help="the conversation's thread id"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """A conversation's turns (text, tool calls and results) and what it waits for."""
        from agents.threads import ThreadError

        store = _store()
        try:
            doc = store.show(thread_id)
        except ThreadError as e:
            raise UserError(str(e)) from None
        finally:
            store.close()
        if as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return
        for m in doc["messages"]:
            line = m["text"]
            if m.get("tool_calls"):
                line += " " + ", ".join(f"[calls {c['name']}({json.dumps(c['arguments'])})]"
                                        for c in m["tool_calls"])
            print(f"{m['role']:>9}: {line.strip()}")
        if doc["waiting"]:
            from model.events import Waiting

            print(f"  waiting: {waiting_line(Waiting.model_validate(doc['waiting']))}")

    def _answer(thread_id: str, decision: Any, output: Path | None, as_json: bool) -> None:
        from agents.threads import ThreadError

        check_thread(thread_id)
        settings = _settings(None, None, None)
        store = _store()  # what it waits for is told before any model loads
        try:
            waiting = store.show(thread_id)["waiting"]
        except ThreadError as e:
            raise UserError(str(e)) from None
        finally:
            store.close()
        want = "handoff" if "reply" in decision else "approval"
        if waiting is None:
            raise UserError(f"thread {thread_id}: not waiting for anyone")
        if waiting["kind"] != want:
            use = "threads reply ID TEXT" if waiting["kind"] == "handoff" else "threads approve|deny ID"
            raise UserError(f"thread {thread_id}: waits for {waiting['kind']}, not {want} (use {use})")
        if output is None:
            from agents.recordings import thread_audio_dir

            output = thread_audio_dir(settings.audio_dir, thread_id) / f"reply-{uuid.uuid4().hex[:12]}.wav"
        with OutputWav(output) as out:
            _run_turn(settings, thread_id, None, out, as_json, resume=decision)

    out_help = "reply WAV to write (default: in the conversation's recordings)"

    @threads_app.command("approve")
    def approve(
        thread_id: str = typer.Argument(..., metavar="ID", help="a conversation waiting for approval"),
        output: Path | None = typer.Option(None, "-o", "--output", help=out_help),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Approve the tool calls a conversation waits on; they run and the reply is spoken."""
        _answer(thread_id, {"approved": True}, output, as_json)

    @threads_app.command("deny")
    def deny(
        thread_id: str = typer.Argument(..., metavar="ID", help="a conversation waiting for approval"),
        reason: str | None = typer.Option(None, "--reason", help="why (the assistant hears it)"),
        output: Path | None = typer.Option(None, "-o", "--output", help=out_help),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Deny the tool calls a conversation waits on; they never run."""
        _answer(thread_id, {"approved": False, "reason": reason}, output, as_json)

    @threads_app.command("reply")
    def reply(
        thread_id: str = typer.Argument(..., metavar="ID", help="a conversation handed to a person"),
        text: str = typer.Argument(..., help="the person's answer, said in the conversation's voice"),
        output: Path | None = typer.Option(None, "-o", "--output", help=out_help),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Answer a conversation that was handed to a person (handoff_to_human)."""
        if not text.strip():
            raise UserError("threads reply: the answer is empty")
        _answer(thread_id, {"reply": text}, output, as_json)

    @threads_app.command("delete")
    def delete_thread(
        thread_id: str = typer.Argument(..., metavar="ID", help="the conversation's thread id"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Delete a conversation: its checkpoints and its recordings."""
        from agents.threads import ThreadError

        store = _store()
        try:
            info = store.delete(thread_id)
        except ThreadError as e:
            raise UserError(str(e)) from None
        finally:
            store.close()
        if as_json:
            print(json.dumps(info.as_json(), indent=2))
        else:
            print(f"deleted thread {info.id!r}: {info.turns} turns, {_size(info.audio_bytes)} of recordings")

    @app.command("prune")
    def prune(
        older_than: str = typer.Option(..., "--older-than", help="idle for longer than this: 12h, 30d, 2w"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Delete every conversation (and its recordings) idle for longer than --older-than."""
        seconds = parse_duration(older_than)
        store = _store()
        try:
            gone = store.prune(seconds)
        finally:
            store.close()
        if as_json:
            print(json.dumps([i.as_json() for i in gone], indent=2))
        elif not gone:
            print(f"nothing to prune: no conversation idle for longer than {older_than.strip()}")
        else:
            freed = _size(sum(i.audio_bytes for i in gone))
            print(f"pruned {len(gone)} conversation{'s' * (len(gone) != 1)} idle for longer than "
                  f"{older_than.strip()} ({freed} of recordings)")
