"""Fixtures of the agents tests: one real PostgreSQL server per test session (started on first
use, stopped at the end), and a fresh database of it per test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.agents.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def postgres():
    server, why = PostgresServer.find()
    if server is None and "not installed" in why:
        try:  # as `make test` does first: Debian's postgresql (apt-get), when it can
            subprocess.run(["bash", str(ROOT / "scripts" / "install-test-deps.sh"), sys.executable],
                           timeout=900, check=False, capture_output=True)
        except (OSError, subprocess.TimeoutExpired):
            pass
        server, why = PostgresServer.find()
    if server is None:
        pytest.skip(why)
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    """The URL of a new, empty database on the session's server."""
    return postgres.new_database()
