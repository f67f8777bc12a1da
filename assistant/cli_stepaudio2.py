"""CLI commands for Step-Audio 2: `stepvox model make-tiny DIR` and `stepvox serve-model`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from assistant.cli_inputs import check_device, check_option
from assistant.errors import UserError


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add this module's commands to the root app (and the `stepvox model` group)."""

    @model_app.command("make-tiny")
    def make_tiny(
        out_dir: Path = typer.Argument(..., help="directory to write the checkpoint into"),
        seed: int = typer.Option(0, help="random seed of the weights"),
        force: bool = typer.Option(False, "--force", help="write into a non-empty directory"),
        token2wav: bool = typer.Option(
            True, "--token2wav/--no-token2wav", help="also write a tiny token2wav/ folder"
        ),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document"),
    ) -> None:
        """Write a tiny random-weight Step-Audio 2 checkpoint in the official layout."""
        if out_dir.exists() and not out_dir.is_dir():
            raise UserError(f"{out_dir}: exists and is not a directory")
        if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
            raise UserError(f"{out_dir}: directory is not empty (use --force to write into it)")
        from model.stepaudio2.tiny import write_tiny_checkpoint

        if as_json:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            d = write_tiny_checkpoint(out_dir, seed=seed, token2wav=token2wav)
        else:
            from rich.console import Console

            with Console(stderr=True).status("writing tiny Step-Audio 2 checkpoint"):
                d = write_tiny_checkpoint(out_dir, seed=seed, token2wav=token2wav)
        files = sorted(p.name for p in d.iterdir() if p.is_file())
        cfg = json.loads((d / "config.json").read_text())
        doc = {
            "model_dir": str(d),
            "files": files,
            "model_type": cfg["model_type"],
            "hidden_size": cfg["text_config"]["hidden_size"],
            "vocab_size": cfg["text_config"]["vocab_size"],
            "token2wav": (d / "token2wav").is_dir(),
            "bytes": sum(p.stat().st_size for p in d.rglob("*") if p.is_file()),
        }
        if as_json:
            print(json.dumps(doc))
        else:
            typer.echo(f"wrote {d} ({', '.join(files)})")

    @app.command("serve-model")
    def serve_model(
        model: Path = typer.Option(..., "--model", help="Step-Audio 2 checkpoint directory"),
        host: str = typer.Option("127.0.0.1", help="address to listen on"),
        port: int = typer.Option(8000, help="port to listen on"),
        name: str = typer.Option(
            "step-audio-2-mini", "--name", help="model name reported by /v1/models"
        ),
        device: str = typer.Option(
            "auto", help="cpu, cuda, cuda:0, ... (auto: cuda when available)"
        ),
        dtype: str = typer.Option("auto", help="float32, bfloat16, float16 (auto: bf16 on GPU)"),
        max_new_tokens: int | None = typer.Option(
            None,
            help="token budget of a reply (default: the checkpoint's generation_config, else 1024)",
        ),
    ) -> None:
        """Serve a local checkpoint with an OpenAI-compatible Step-Audio 2 API (/v1/chat/completions)."""
        if not model.is_dir():
            raise UserError(f"--model {model}: model directory not found")
        if not (model / "config.json").is_file():
            raise UserError(f"--model {model}: not a Step-Audio 2 checkpoint (no config.json)")
        if not 0 < port < 65536:
            raise UserError(f"--port {port}: expected a port number 1-65535")
        if max_new_tokens is not None:
            check_option("max_new_tokens", max_new_tokens, "--max-new-tokens")
        dtype = check_option("dtype", dtype, "--dtype")
        device = check_device(device)  # the syntax, then whether that device is here
        from model.stepaudio2 import StepAudio2CheckpointError
        from model.stepaudio2.server import serve

        typer.echo(
            f"serving {model} as {name!r} on http://{host}:{port}/v1/chat/completions", err=True
        )
        try:
            serve(
                model,
                host=host,
                port=port,
                model_name=name,
                device=device,
                dtype=dtype,
                max_new_tokens=max_new_tokens,
            )
        except StepAudio2CheckpointError as e:
            raise UserError(str(e)) from e
