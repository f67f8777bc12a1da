"""Fixtures for the real-browser test: Debian chromium + Python Playwright (no `playwright install`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


def _have_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists() or not _have_playwright():
        script = ROOT / "scripts" / "install-test-deps.sh"
        try:
            subprocess.run(
                ["bash", str(script), sys.executable], timeout=900, check=False, capture_output=True
            )
        except (OSError, subprocess.TimeoutExpired):
            pass
    if not CHROMIUM.exists():
        pytest.skip(
            "chromium could not be installed (/usr/bin/chromium missing; scripts/install-test-deps.sh failed)"
        )
    if not _have_playwright():
        pytest.skip(
            "the playwright Python package could not be installed (scripts/install-test-deps.sh failed)"
        )
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def chromium_args(fake_wav: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]


os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.live.conftest import approval_assistant, real_assistant  # noqa: E402,F401  (one assistant per session)
