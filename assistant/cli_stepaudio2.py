"""CLI commands for stepaudio2 (registered on the root app by assistant.cli)."""

import typer


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add this module's commands to the root app (and the `stepvox model` group)."""
