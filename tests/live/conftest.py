"""Shared, expensive fixtures for the live tests: one real agents.Assistant per session."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def real_assistant(tmp_path_factory):
    """The real assistant (embedded offline policy) on a fresh STEPVOX_HOME, models warmed up."""
    from agents import Assistant
    from assistant.live.warmup import warm_up
    from core.settings import Settings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    home = tmp_path_factory.mktemp("stepvox-home")
    a = Assistant.from_settings(Settings(home=home, policy="embedded"))
    warm_up(a)
    yield a
    a.close()


@pytest.fixture(scope="session")
def approval_assistant(real_assistant, tmp_path_factory):
    """A real assistant (the warmed-up embedded policy of `real_assistant`, its own home) whose
    `calculator` needs a person's approval (as `STEPVOX_APPROVE_TOOLS=calculator` does)."""
    from agents import Assistant

    a = Assistant(real_assistant.policy, tmp_path_factory.mktemp("approval-home"),
                  approve_tools=["calculator"])
    yield a
    a.close()
