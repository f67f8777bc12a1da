"""Shared fixtures for the voice library tests: the LibriSpeech readers in shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.voices.forking import Zygote
from tests.voices.helpers import run_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "voices-dev"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/voices-dev")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The encoders are tiny; on a shared 2-core machine one thread is several times faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def speakers() -> dict[str, str]:
    out = {}
    for line in (DATA / "SPEAKERS.TXT").read_text().splitlines():
        if line.startswith("#") or "|" not in line:
            continue
        parts = [p.strip() for p in line.split("|")]
        out[parts[0]] = {"F": "female", "M": "male"}[parts[1]]
    return out


@pytest.fixture(scope="session")
def libri_files() -> list[Path]:
    files = sorted(DATA.glob("*.flac"))
    if len(files) < 60:
        pytest.skip(f"{DATA}: LibriSpeech readers not available")
    return files


@pytest.fixture(scope="session")
def libri_halves(tmp_path_factory, libri_files) -> tuple[Path, Path]:
    """First and second half of each recording, written as separate files."""
    root = tmp_path_factory.mktemp("halves")
    first, second = root / "first", root / "second"
    first.mkdir()
    second.mkdir()
    for f in libri_files:
        y, sr = sf.read(f, dtype="float32")
        h = len(y) // 2
        sf.write(first / f.name, y[:h], sr)
        sf.write(second / f.name, y[h:], sr)
    return first, second


@pytest.fixture(scope="session")
def small_clips(tmp_path_factory, libri_files) -> list[Path]:
    """Six short real clips (3 readers x 2 halves) for fast library tests."""
    root = tmp_path_factory.mktemp("small")
    out = []
    for f in libri_files[:3]:
        y, sr = sf.read(f, dtype="float32")
        y = y[: 8 * sr]
        h = len(y) // 2
        for i, part in enumerate((y[:h], y[h:])):
            p = root / f"{f.stem}-part{i}.wav"
            sf.write(p, part, sr)
            out.append(p)
    return out


def tone(
    path: Path,
    f0: float,
    seconds: float = 3.0,
    sr: int = 16000,
    noise: float = 0.0,
    gain: float = 0.3,
) -> Path:
    """A voiced-like test signal: a glottal-pulse-ish harmonic series with syllable envelope."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    y *= 0.5 * (1 + np.sin(2 * np.pi * 4 * t - np.pi / 2)) ** 2 / 2
    y = gain * y / np.max(np.abs(y))
    if noise:
        y = y + noise * np.random.default_rng(0).standard_normal(len(y))
    sf.write(path, y.astype(np.float32), sr)
    return path


@pytest.fixture(scope="session")
def archived_library(tmp_path_factory, small_clips) -> tuple[Path, Path]:
    """A library of three real voices (with a description, tags and given attributes) and the
    archive `voices export` wrote of it (made through the CLI)."""
    root = tmp_path_factory.mktemp("archived") / "lib"
    lib = ("--library", str(root))
    for args in (
        ("add", str(small_clips[0]), "--name", "Ada", "--tags", "narrator", "--gender", "female"),
        ("add", str(small_clips[2]), "--name", "Bob", "--style", "calm", "--age-band", "older"),
        ("add", str(small_clips[4]), "--name", "Cleo", "--description", "a bright voice"),
        ("export", str(root.parent / "lib.tar")),
    ):
        p = run_cli("voices", *args, *lib)
        assert p.returncode == 0, p.stderr
    return root, root.parent / "lib.tar"


@pytest.fixture(scope="session")
def zygote():
    """Forks real writer processes with the models already loaded (tests/voices/forking.py)."""
    z = Zygote()
    yield z
    z.close()
