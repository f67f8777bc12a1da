"""The assistant the browser test talks to: the real agents.Assistant on a fresh STEPVOX_HOME."""

from __future__ import annotations

from pathlib import Path


def make_assistant(home: Path):
    import os

    os.environ["STEPVOX_HOME"] = str(home)
    try:
        from agents import Assistant  # noqa: F401
    except ImportError:
        from tests.live.audio_helpers import SpeakingAssistant

        return SpeakingAssistant(pace=0.3), False
    from assistant.config import get_settings

    get_settings.cache_clear()
    return Assistant.from_settings(), True
