"""A throwaway PostgreSQL server for the test session (Debian's postgresql package)."""

from __future__ import annotations

import glob
import gzip
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ivr.asterisk.instance import free_port


class PostgresError(Exception):
    pass


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise PostgresError(f"PostgreSQL {name} not found: apt-get install -y postgresql")
    return found[-1]


class PostgresServer:
    """initdb + pg_ctl as the `postgres` user (the server refuses to run as root)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="nul-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres"
        self.started = False

    def _as_user(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        argv = list(cmd)
        if os.geteuid() == 0:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> None:
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                raise PostgresError("no `postgres` user: apt-get install -y postgresql") from None
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        result = self._as_user(
            _bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed: {result.stderr.strip()}")
        self.resume()
        self.started = True

    def pause(self) -> None:
        """Stop the server but keep its data: the database is unavailable until resume()."""
        result = self._as_user(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed: {result.stderr.strip()}")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        result = self._as_user(
            _bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"), "-w", "start"
        )
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl start failed: {result.stderr.strip()} {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return (self.dir / "server.log").read_text()[-800:]
        except OSError:
            return ""

    def create_database(self, name: str) -> str:
        result = self._as_user(
            _bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", f'CREATE DATABASE "{name}"'
        )
        if result.returncode != 0:
            raise PostgresError(f"create database {name}: {result.stderr.strip()}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def dump(self, name: str, to: Path) -> None:
        """The database as plain SQL, compressed (a soak's store kept to look into afterwards)."""
        result = subprocess.run(
            [_bin("pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "--no-owner", name],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(f"pg_dump {name}: {result.stderr.decode(errors='replace').strip()}")
        to.write_bytes(gzip.compress(result.stdout))

    def stop(self) -> None:
        if self.started:
            self._as_user(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
            self.started = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                shutil.rmtree(self.dir)
                return
            except OSError:
                time.sleep(0.2)
