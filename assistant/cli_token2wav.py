"""CLI commands for token2wav (registered on the root app by assistant.cli).

stepvox model token2wav DIR --tokens LIST_OR_FILE [--prompt VOICE.wav] -o OUT.wav [--json]
stepvox model make-tiny-token2wav DIR
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import typer

from assistant.cli_inputs import OutputWav, check_device, check_option
from assistant.errors import UserError
from core.settings import load_settings

MAX_TOKEN = 6560


def parse_tokens(spec: str) -> list[int]:
    """Speech tokens from a list ("12,7 99", "[12, 7]") or a file holding one."""
    source = spec
    p = Path(spec)
    try:
        is_file = p.is_file()
    except OSError:
        is_file = False
    if is_file:
        try:
            spec = p.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{p}: cannot read tokens ({e})") from e
    text = spec.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{source}: not a JSON list of token ids ({e.msg})") from e
        if not isinstance(values, list):
            raise UserError(f"{source}: expected a list of token ids")
    else:
        values = [v for v in re.split(r"[\s,]+", text) if v]
    tokens: list[int] = []
    for v in values:
        try:
            if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                raise ValueError
            tokens.append(int(v))
        except (TypeError, ValueError):
            raise UserError(f"{source}: {v!r} is not an integer token id") from None
    if not tokens:
        raise UserError(f"{source}: no speech tokens")
    bad = [t for t in tokens if not 0 <= t <= MAX_TOKEN]
    if bad:
        raise UserError(
            f"{source}: token id {bad[0]} is outside 0..{MAX_TOKEN} ({len(bad)} of {len(tokens)} out of range)"
        )
    return tokens


def _synthesize(t2w, tokens: list[int], prompt: Path, quiet: bool):
    import numpy as np

    n = t2w.chunk_size
    chunks = [tokens[i : i + n] for i in range(0, len(tokens), n)]
    if quiet or not sys.stderr.isatty():
        return t2w.synthesize(tokens, prompt), None
    from rich.progress import Progress

    parts = []
    first = None
    t0 = time.perf_counter()
    with Progress(transient=True) as bar:
        task = bar.add_task("token2wav", total=len(tokens) / 25)
        for piece in t2w.stream(chunks, prompt):
            if first is None:
                first = time.perf_counter() - t0
            parts.append(piece)
            bar.update(task, advance=len(piece) / t2w.sample_rate)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32), first


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add this module's commands to the root app (and the `stepvox model` group)."""

    @model_app.command("token2wav")
    def token2wav_cmd(
        directory: Path = typer.Argument(
            ..., help="Step-Audio 2 checkpoint dir or its token2wav/ folder"
        ),
        tokens: str = typer.Option(
            ..., "--tokens", help="token ids 0..6560: a list (comma/space or JSON) or a file"
        ),
        prompt: Path | None = typer.Option(
            None, "--prompt", help="voice prompt recording (default: the shipped voice)"
        ),
        output: Path = typer.Option(..., "-o", "--output", help="output WAV (24 kHz mono)"),
        device: str | None = typer.Option(
            None, "--device", help="auto, cpu, cuda, cuda:N or mps (default: STEPVOX_DEVICE, auto)"
        ),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Turn Step-Audio 2 speech tokens into 24 kHz speech in the voice of a prompt."""
        # everything the user gave is checked before the weights load
        ids = parse_tokens(tokens)
        if not directory.is_dir():
            raise UserError(f"{directory}: no such directory")
        if device is None:
            device = load_settings().device  # STEPVOX_DEVICE (bad settings stop here, exit 2)
        else:
            device = check_option("device", device, "--device")
        if prompt is not None:
            from model.voice_prompt import load_prompt  # cheap: core.audio, no torch

            try:
                load_prompt(prompt)  # decodable, 0.2-30 s, finite, not silent
            except ValueError as e:
                raise UserError(f"--prompt {e}") from None
        out = OutputWav(output)
        with out:
            device = check_device(device)  # imports torch
            from model.token2wav import CheckpointError, Token2Wav, default_prompt_path

            prompt_path = prompt or default_prompt_path()
            try:
                t0 = time.perf_counter()
                t2w = Token2Wav.from_pretrained(directory, device=device)
                load_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                wav, first = _synthesize(t2w, ids, prompt_path, as_json)
                synth_s = time.perf_counter() - t0
            except FileNotFoundError as e:
                raise UserError(str(e).strip("'\"")) from e
            except (CheckpointError, ValueError) as e:
                raise UserError(str(e)) from e
            import soundfile as sf

            sf.write(str(out.tmp), wav, t2w.sample_rate, subtype="PCM_16")
            out.commit()
        duration = len(wav) / t2w.sample_rate
        info = {
            "output": str(output),
            "tokens": len(ids),
            "sample_rate": t2w.sample_rate,
            "duration_s": round(duration, 3),
            "prompt": str(prompt_path),
            "load_s": round(load_s, 3),
            "synthesis_s": round(synth_s, 3),
            "rtf": round(synth_s / duration, 3) if duration else None,
        }
        if first is not None:
            info["first_chunk_s"] = round(first, 3)
        if as_json:
            print(json.dumps(info))
        else:
            typer.echo(
                f"wrote {output}: {duration:.2f} s at {t2w.sample_rate} Hz from {len(ids)} tokens"
            )

    @model_app.command("make-tiny-token2wav")
    def make_tiny_token2wav_cmd(
        directory: Path = typer.Argument(..., help="folder to write (token2wav layout)"),
        seed: int = typer.Option(0, "--seed"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Write a tiny random-weight token2wav folder (flow/HiFT weights, small ONNX models)."""
        from model.token2wav import write_tiny_token2wav

        if directory.exists() and not directory.is_dir():
            raise UserError(f"{directory}: exists and is not a directory")
        d = write_tiny_token2wav(directory, seed=seed)
        files = sorted(p.name for p in d.iterdir())
        if as_json:
            print(json.dumps({"directory": str(d), "files": files}))
        else:
            typer.echo(f"wrote {d}: {', '.join(files)}")
