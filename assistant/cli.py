"""The `stepvox` command line (typer). `--json` prints one JSON document on stdout.

Exit codes: 0 success; 2 bad input or usage (one line on stderr); 1 internal failure
(traceback only with --debug).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import warnings  # noqa: E402

import typer  # noqa: E402

# resemblyzer -> webrtcvad imports pkg_resources, which warns on every run
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

from assistant import (  # noqa: E402
    cli_corpus,
    cli_live,
    cli_stepaudio2,
    cli_threads,
    cli_token2wav,
    cli_voices,
    cli_voices_curation,  # noqa: E402,F401  (its commands join cli_voices.voices_app)
)
from assistant.errors import UserError  # noqa: E402
from core.settings import SettingsError  # noqa: E402

app = typer.Typer(no_args_is_help=True, add_completion=False, help="stepvox: speech-native voice agents")
model_app = typer.Typer(no_args_is_help=True, help="Step-Audio 2 model tools")
app.add_typer(model_app, name="model")

_DEBUG = {"on": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show tracebacks")) -> None:
    _DEBUG["on"] = debug


for _mod in (cli_voices, cli_corpus, cli_stepaudio2, cli_token2wav, cli_live, cli_threads):
    _mod.register(app, model_app)

from assistant.cli_turns import register as _register_turns  # noqa: E402

_register_turns(app, model_app)


@app.command("settings")
def settings_cmd(
    markdown: bool = typer.Option(False, "--markdown", help="print docs/settings.md (every setting, generated)"),
) -> None:
    """Print the effective settings as JSON (after STEPVOX_* and STEPVOX_CONFIG), or their reference."""
    from core.settings import load_settings, settings_markdown

    if markdown:
        print(settings_markdown(), end="")
    else:
        print(load_settings().model_dump_json(indent=2, exclude={"token", "remote_api_key", "brain_api_key"}))


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        rc = app(standalone_mode=False)  # Ctrl-C inside click comes back as 130, not raised
        if isinstance(rc, int) and rc:
            print("aborted" if rc == 130 else f"exit {rc}", file=sys.stderr)
            sys.exit(rc)
    except (UserError, SettingsError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors are exceptions too
        usage, click_exc = _click_exceptions()
        if isinstance(e, usage):
            print(f"error: {e.format_message()}", file=sys.stderr)
            sys.exit(2)
        if isinstance(e, click_exc):
            e.show()
            sys.exit(e.exit_code)
        if debug:
            raise
        code = getattr(e, "exit_code", None)  # a known failure (PolicyUnavailable, ThreadBusy...)
        if isinstance(code, int):
            print(f"error: {e}", file=sys.stderr)
            sys.exit(code)
        print(f"internal error: {type(e).__name__}: {e} (run with --debug for a traceback)", file=sys.stderr)
        sys.exit(1)


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """typer >= 0.16 vendors click; accept both its and click's exception classes."""
    usage: list[type] = []
    base: list[type] = []
    for mod in ("typer._click.exceptions", "click.exceptions"):
        try:
            m = __import__(mod, fromlist=["UsageError"])
            usage.append(m.UsageError)
            base.append(m.ClickException)
        except ImportError:
            pass
    return tuple(usage), tuple(base)


if __name__ == "__main__":
    main()
