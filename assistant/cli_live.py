"""`stepvox chat`, `stepvox devices` and `stepvox serve`."""

from __future__ import annotations

import gc
import json
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import typer

from assistant.cli_turns import BRAIN_MODEL_HELP, BRAIN_URL_HELP
from assistant.errors import UserError


def _device_arg(value: str | None) -> str | int | None:
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def _load_assistant(settings: Any, quiet: bool) -> Any:
    from rich.console import Console

    from assistant.live.warmup import warm_up

    try:
        from agents import Assistant
    except ImportError as e:
        raise UserError(f"agents: the assistant graph is not installed ({e})") from None
    err = Console(stderr=True)
    status = err.status("loading models …") if not quiet else None
    if status:
        status.start()
    try:
        try:
            a = Assistant.from_settings(settings)
            try:
                warm_up(a)  # policies may load their weights lazily: a bad checkpoint fails here
            except BaseException:  # that, or Ctrl-C
                a.close()
                raise
        except (FileNotFoundError, ValueError, OSError) as e:
            if getattr(e, "exit_code", None) == 2:  # bad input named by the error itself
                raise UserError(str(e)) from None
            raise UserError(f"{settings.policy} policy: {str(e).splitlines()[0]}") from None
    finally:
        if status:
            status.stop()
    return a


def _check_voice(assistant: Any, voice: str | None, thread: str) -> None:
    if voice and hasattr(assistant, "set_voice"):
        try:
            assistant.set_voice(thread, voice)
        except KeyError:
            raise UserError(f"--voice {voice}: no such voice in the voice library") from None


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    @app.command()
    def devices(
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """List audio devices (for --input-device / --output-device)."""
        from assistant.live.stream import list_devices

        devs = list_devices()
        if as_json:
            print(json.dumps(devs, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        t = Table("#", "name", "host API", "in", "out", "rate", "default")
        for d in devs:
            default = " ".join(k for k in ("input", "output") if d[f"default_{k}"])
            t.add_row(
                str(d["index"]),
                d["name"],
                d["hostapi"],
                str(d["max_input_channels"]),
                str(d["max_output_channels"]),
                f"{d['default_samplerate']:.0f}",
                default,
            )
        Console().print(t)
        if not devs:
            raise UserError("audio: PortAudio sees no audio devices")

    @app.command()
    def chat(
        input_device: str | None = typer.Option(
            None, "--input-device", help="microphone: index or name (see `stepvox devices`)"
        ),
        output_device: str | None = typer.Option(
            None, "--output-device", help="speaker: index or name"
        ),
        thread: str | None = typer.Option(
            None, "--thread", help="conversation id (checkpointed; reuse it to continue)"
        ),
        voice: str | None = typer.Option(None, "--voice", help="voice library id or name"),
        policy: str | None = typer.Option(
            None, "--policy", help="embedded | step-audio-2 | remote | chat"
        ),
        model: Path | None = typer.Option(None, "--model", help="Step-Audio 2 checkpoint directory"),
        remote_url: str | None = typer.Option(
            None, "--remote-url", help="OpenAI-compatible server URL (--policy remote)"
        ),
        brain_url: str | None = typer.Option(None, "--brain-url", help=BRAIN_URL_HELP),
        brain_model: str | None = typer.Option(None, "--brain-model", help=BRAIN_MODEL_HELP),
        silence_ms: int = typer.Option(
            700, "--silence-ms", min=100, max=5000, help="silence that ends your turn"
        ),
        vad_threshold: float = typer.Option(
            0.5, "--vad-threshold", min=0.05, max=0.99, help="speech probability threshold"
        ),
        push_to_talk: bool = typer.Option(
            False, "--push-to-talk", help="press Enter to start and stop talking"
        ),
        barge_in: bool = typer.Option(
            True,
            "--barge-in/--no-barge-in",
            help="talking over the reply interrupts it (use headphones)",
        ),
        show_timings: bool = typer.Option(
            True, "--timings/--no-timings", help="show each turn's stage timings"
        ),
        input_file: Path | None = typer.Option(
            None, "--input-file", help="use this recording as the microphone (played in real time)"
        ),
        output_file: Path | None = typer.Option(
            None,
            "--output-file",
            help="write what would be played to this WAV instead of a speaker",
        ),
    ) -> None:
        """Talk with the assistant through the microphone and speakers."""
        _quit_on_ctrl_c()
        from rich.console import Console

        from assistant.cli_turns import _settings
        from assistant.live.endpointer import EndpointConfig
        from assistant.live.loop import VoiceLoop, sounddevice_factories
        from assistant.live.stream import (
            FileInputStream,
            FileOutputStream,
            load_mono,
            resolve_device,
        )

        settings = _settings(policy, model, remote_url, brain_url, brain_model)  # bad options: exit 2 before anything
        # audio first: a missing PortAudio or device is reported before any model loads
        if input_file is not None:
            if not input_file.is_file():
                raise UserError(f"{input_file}: file not found")
            mic = load_mono(input_file, 16000)
            din = {"index": None, "name": str(input_file)}
        else:
            din = resolve_device(_device_arg(input_device), "input")
        if output_file is not None:
            if output_file.suffix.lower() != ".wav":
                raise UserError(f"{output_file}: the output is written as WAV; use a .wav name")
            output_file.parent.mkdir(parents=True, exist_ok=True)
            dout = {"index": None, "name": str(output_file)}
        else:
            dout = resolve_device(_device_arg(output_device), "output")
        console = Console(highlight=False)
        thread_id = thread or f"chat-{uuid.uuid4().hex[:8]}"
        endpoint = EndpointConfig(
            silence_ms=silence_ms,
            threshold=vad_threshold,
            neg_threshold=max(0.01, vad_threshold - 0.15),
        )
        from assistant.live.transcript import TranscriptView

        view = TranscriptView(console, show_timings=show_timings)
        make_in, make_out = sounddevice_factories(din["index"], dout["index"])
        if input_file is not None:

            def make_in(cb):
                return FileInputStream(mic, samplerate=16000, blocksize=512, callback=cb)

        if output_file is not None:

            def make_out(cb):
                return FileOutputStream(
                    samplerate=24000, blocksize=480, callback=cb, path=output_file
                )

        asst = loop = None
        try:  # Ctrl-C, wherever it lands (loading, listening, a turn): close, then say so
            asst = _load_assistant(settings, quiet=not sys.stderr.isatty())
            _check_voice(asst, voice, thread_id)
            loop = VoiceLoop(
                asst,
                make_input=make_in,
                make_output=make_out,
                thread_id=thread_id,
                endpoint=endpoint,
                barge_in=barge_in,
                push_to_talk=push_to_talk,
                on_event=view.handle,
            )
            view.status(
                f"mic: {din['name']}  ·  speaker: {dout['name']}  ·  conversation: {thread_id}"
            )
            if push_to_talk:
                view.status(
                    "push-to-talk: press Enter to start talking, Enter again to send. Ctrl-C quits."
                )
                _start_ptt_reader(loop)
            else:
                view.status(f"listening — speak, then pause {silence_ms} ms. Ctrl-C quits.")
            loop.run()
        except KeyboardInterrupt:
            pass
        finally:
            if loop is not None:
                loop.close()
            if asst is not None and hasattr(asst, "close"):
                asst.close()
        view.status(
            f"conversation saved as {thread_id!r} — continue with `stepvox chat --thread {thread_id}`"
        )
        _exit_without_collecting()

    @app.command()
    def serve(
        host: str = typer.Option(
            "127.0.0.1", "--host", help="bind address (non-loopback requires a token)"
        ),
        port: int = typer.Option(8765, "--port", min=1, max=65535),
        token: str | None = typer.Option(
            None,
            "--token",
            help="access token (visible in `ps`: prefer STEPVOX_TOKEN or --token-file)",
        ),
        token_file: Path | None = typer.Option(
            None, "--token-file", help="read the access token from this file"
        ),
        policy: str | None = typer.Option(
            None, "--policy", help="embedded | step-audio-2 | remote | chat"
        ),
        model: Path | None = typer.Option(None, "--model", help="Step-Audio 2 checkpoint directory"),
        remote_url: str | None = typer.Option(
            None, "--remote-url", help="OpenAI-compatible server URL (--policy remote)"
        ),
        brain_url: str | None = typer.Option(None, "--brain-url", help=BRAIN_URL_HELP),
        brain_model: str | None = typer.Option(None, "--brain-model", help=BRAIN_MODEL_HELP),
        silence_ms: int = typer.Option(
            700, "--silence-ms", min=100, max=5000, help="silence that ends a turn"
        ),
        proxy_headers: bool = typer.Option(
            False,
            "--proxy-headers",
            help="trust X-Forwarded-Proto/-For from --forwarded-allow-ips (behind a reverse proxy)",
        ),
        forwarded_allow_ips: str = typer.Option(
            "127.0.0.1", "--forwarded-allow-ips", help="the reverse proxy's addresses, comma-separated"
        ),
    ) -> None:
        """Serve the web page and the streaming voice API."""
        from assistant.cli_turns import _settings
        from assistant.live.endpointer import EndpointConfig
        from assistant.server.app import create_app
        from assistant.server.auth import resolve_token
        from assistant.server.run import serve_forever

        settings = _settings(policy, model, remote_url, brain_url, brain_model)  # bad options: exit 2, nothing served
        given = _token(token, token_file, settings.token)
        _check_bind(host, port)
        tok, generated = resolve_token(host, given)

        def factory():
            return _load_assistant(settings, quiet=True)

        app_ = create_app(
            assistant_factory=factory,
            token=tok,
            endpoint=EndpointConfig(silence_ms=silence_ms),
            upload_dir=settings.uploads_dir,
            settings=settings,
            bind_host=host,
        )
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        url = f"http://{shown}:{port}/" + (f"?token={tok}" if tok else "")
        if generated:
            print(f"access token (generated): {tok}", file=sys.stderr)
        print(f"stepvox serving on {url}", file=sys.stderr)
        serve_forever(
            app_,
            host,
            port,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
        )


def _token(token: str | None, token_file: Path | None, from_env: str | None) -> str | None:
    """The token `serve` requires: --token, --token-file or STEPVOX_TOKEN (None: none given)."""
    if token is not None and token_file is not None:
        raise UserError("--token and --token-file: give one of them")
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise UserError(f"--token-file {token_file}: file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"--token-file {token_file}: cannot read it ({e})") from None
        where = f"--token-file {token_file}"
    elif token is not None:
        print(
            "warning: --token is visible to other users of this machine (`ps`); "
            "prefer STEPVOX_TOKEN or --token-file",
            file=sys.stderr,
        )
        where = "--token"
    else:
        return from_env  # validated by the settings model
    if len(token) < 8 or any(c.isspace() for c in token):
        raise UserError(f"{where}: the token must be at least 8 characters, without spaces")
    return token


def _check_bind(host: str, port: int) -> None:
    """Fail early, with one line, when the address cannot be served."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UserError(f"--host {host}: not a usable address ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise UserError(f"--host {host} --port {port}: cannot listen ({e.strerror})") from None


def _quit_on_ctrl_c() -> None:
    """Ctrl-C (SIGINT) quits chat, whatever the process inherited.

    Python turns SIGINT into KeyboardInterrupt only when the parent left it at its default; a
    shell without job control starts background jobs (`cmd &` in a script, a CI runner) with
    SIGINT *ignored*, and then Ctrl-C or `kill -INT` did nothing: chat ran on for ever."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _exit_without_collecting() -> None:
    """Everything is saved and closed: let the interpreter exit without garbage-collecting the
    models' objects (about half a million; its several full collections at exit took 3 s of CPU,
    over 15 s on a busy machine, after "conversation saved" was printed)."""
    gc.freeze()


def _start_ptt_reader(loop: Any) -> None:
    """Enter toggles recording (terminals cannot see key releases without raw mode)."""

    def reader() -> None:
        pressed = False
        for _line in sys.stdin:
            if pressed:
                loop.session.release()
            else:
                loop.session.press()
            pressed = not pressed
        loop.stop()

    threading.Thread(target=reader, daemon=True, name="ptt-keys").start()
