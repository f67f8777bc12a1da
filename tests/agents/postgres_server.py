"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, a fresh cluster in a
temporary directory, listening on a free loopback port (and a unix socket in that directory).

initdb and postgres refuse to run as root: as root, the cluster belongs to the `postgres`
user and its commands run through `runuser -u postgres --`. `PostgresServer.find()` is None
(with the reason) when the binaries are not installed; `scripts/install-test-deps.sh`
installs them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path, user: str | None) -> None:
        self.bin = bin_dir
        self.user = user  # run the server's commands as this user (None: as we are)
        self.dir = Path(tempfile.mkdtemp(prefix="stepvox-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if user is not None:
            pw = pwd.getpwnam(user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-o", opts,
                  "-w", "-t", "60", "start")

    @classmethod
    def find(cls) -> tuple[PostgresServer | None, str]:
        """A started server, or None and why not (binaries missing)."""
        bin_dir = _bin_dir()
        if bin_dir is None:
            return None, ("PostgreSQL is not installed (no initdb/pg_ctl; Debian: apt-get install "
                          "postgresql, or run scripts/install-test-deps.sh)")
        user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return None, "running as root and there is no `postgres` user to run the server as"
            user = "postgres"
        return cls(bin_dir, user), ""

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.dir)
        if p.returncode != 0:
            log = self.dir / "server.log"
            raise RuntimeError(f"{tool} failed ({p.returncode}): {p.stderr.strip()[-800:]}"
                               + (f"\n{log.read_text()[-800:]}" if log.exists() else ""))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
