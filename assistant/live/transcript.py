"""The live transcript in the terminal (rich): what you said, the reply as it streams,
tool calls and results, voice changes, barge-ins and timings.

`lines` keeps a plain-text copy of everything shown (for tests and for the session log).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape


def _short(s: str, n: int = 160) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"


class TranscriptView:
    def __init__(self, console: Console | None = None, *, show_timings: bool = True) -> None:
        self.console = console or Console(highlight=False)
        self.show_timings = show_timings
        self.lines: list[str] = []
        self._reply_open = False
        self._reply_text = ""

    def _line(self, markup: str, plain: str) -> None:
        self._close_reply()
        self.lines.append(plain)
        self.console.print(markup)

    def _close_reply(self) -> None:
        if self._reply_open:
            self.console.print()
            self.lines.append(f"assistant: {self._reply_text}")
            self._reply_open = False
            self._reply_text = ""

    def status(self, text: str) -> None:
        self._line(f"[dim]{escape(text)}[/dim]", text)

    def handle(self, ev: Any) -> None:
        """Show one event of `model.events` (anything else is ignored)."""
        kind = getattr(ev, "type", None)
        if kind == "speech_start":
            self._line("[dim]… listening[/dim]", "… listening")
        elif kind == "barge_in":
            ms = ev.detect_ms
            extra = f" (detected {ms:.0f} ms after onset)" if ms is not None else ""
            self._line(f"[yellow]⏹ interrupted{extra}[/yellow]", f"interrupted{extra}")
        elif kind == "turn_cancelled":
            self._line("[yellow]  reply cancelled[/yellow]", "reply cancelled")
        elif kind == "error":
            self._line(f"[red]error: {escape(ev.message)}[/red]", f"error: {ev.message}")
        elif kind == "ptt":
            if ev.pressed:
                self._line("[dim]● recording (press Enter to stop)[/dim]", "recording")
        elif kind == "transcript":
            self._line(f"[bold cyan]you:[/bold cyan] {escape(ev.text)}", f"you: {ev.text}")
        elif kind == "text_delta":
            if not self._reply_open:
                self.console.print("[bold green]assistant:[/bold green] ", end="")
                self._reply_open = True
            self._reply_text += ev.text
            self.console.print(escape(ev.text), end="", soft_wrap=True)
        elif kind == "tool_call":
            args = json.dumps(ev.arguments, ensure_ascii=False)
            self._line(
                f"[magenta]  tool → {escape(ev.name)}({escape(_short(args))})[/magenta]",
                f"tool call: {ev.name} {args}",
            )
        elif kind == "tool_result":
            tag = "error" if ev.is_error else "result"
            self._line(
                f"[magenta]  tool ← {escape(ev.name)}: {escape(_short(ev.content))}[/magenta]",
                f"tool {tag}: {ev.name}: {_short(ev.content)}",
            )
        elif kind == "voice_changed":
            name = ev.name or ev.voice_id
            self._line(f"[blue]  voice → {escape(name)}[/blue]", f"voice changed: {name}")
        elif kind == "turn_done":
            self._close_reply()
            r = ev.result
            if self.show_timings and r.timings_ms:
                parts = ", ".join(f"{k} {v:.0f}" for k, v in r.timings_ms.items())
                self._line(f"[dim]  ({escape(parts)} ms)[/dim]", f"timings: {parts}")
