"""`ivr backup DEST` / `ivr restore SRC`: the database, the audio and the configuration, with a
sha256 per file in a manifest, optionally encrypted and authenticated with a passphrase
(`ivr.ops.manifest` says what a manifest may hold and how a restore checks it).

The database is copied consistently while the engine runs (SQLite's online backup API, or
`pg_dump` for PostgreSQL) before the audio: every file a copied ticket names was written before
its row, so it is in the copy too. A restore checks every checksum before it writes anything,
goes only into an empty data folder (unless forced), then brings the schema up to date.
Without a passphrase a backup is not authenticated: whoever can write the backup store can
replace it whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from ivr.ops import sealed
from ivr.ops.manifest import FORMAT, MANIFEST, BackupError, mac
from ivr.settings import Settings
from ivr.version import version

__all__ = ["BackupError", "backup", "sha256", "sources"]


@dataclass(frozen=True)
class Source:
    """A folder backed up under `name` in the archive (`files/<name>/...`)."""

    name: str
    path: Path


def sources(settings: Settings) -> list[Source]:
    data = settings.paths.data_dir
    found = [
        Source("voicemail", settings.voicemail_dir),
        Source("recordings", data / "recordings"),
        Source("tls", data / "tls"),
        Source("config", settings.config_dir),
    ]
    return [s for s in found if s.path.is_dir()]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _walk(root: Path, skip: list[Path]) -> Iterator[Path]:
    """Files under `root`, except under `skip` (a config folder holding the data folder)."""
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in skip)
        for name in sorted(files):
            path = here / name
            if path.is_file() and not path.is_symlink():
                yield path


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(parsed.database)


def _pg_url(url: str) -> str:
    """libpq's form of a SQLAlchemy PostgreSQL URL (no '+driver')."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def copy_database(settings: Settings, work: Path) -> tuple[str, Path]:
    url = settings.database_url
    path = _sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise BackupError(f"no database at {path}")
        target = work / "database.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
            src.backup(dst)  # a consistent copy while the engine keeps writing
        src.close()
        dst.close()
        return "sqlite", target
    target = work / "database.pgdump"
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={_pg_url(url)}"], "pg_dump")
    return "postgresql", target


def _run(cmd: list[str], tool: str) -> None:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip()[-500:]}")


def backup(settings: Settings, dest: Path, passphrase: bytes | None = None) -> dict[str, Any]:
    """Write the backup into `dest` (new or empty); returns the manifest."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: give a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    salt = os.urandom(16)
    keys = sealed.keys(passphrase, salt) if passphrase is not None else None
    key = keys.seal if keys is not None else None
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "encrypted": key is not None,
        "salt": salt.hex() if key is not None else None,
        "sources": {s.name: str(s.path.resolve()) for s in sources(settings)},
        "files": [],
    }
    with tempfile.TemporaryDirectory(prefix="nul-backup-") as tmp:
        kind, db_file = copy_database(settings, Path(tmp))
        manifest["database"] = {"kind": kind, "file": db_file.name, "revision": _revision(settings)}
        _store(db_file, db_file.name, dest, key, manifest)
    outbox = settings.outbox_path
    if outbox.exists():
        with tempfile.TemporaryDirectory(prefix="nul-backup-") as tmp:
            copy = Path(tmp) / "outbox.db"
            with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as src, sqlite3.connect(copy) as dst:
                src.backup(dst)
            src.close()
            dst.close()
            _store(copy, "outbox.db", dest, key, manifest)
    found = sources(settings)
    data = [settings.paths.data_dir.resolve(), *(s.path.resolve() for s in found if s.name != "config")]
    for source in found:
        skip = [*(data if source.name == "config" else []), dest.resolve()]  # never the backup itself
        names = {settings.secrets_file.resolve(), settings.outbox_path.resolve()}
        for path in _walk(source.path, skip):
            if path.resolve() in names or path.suffix in (".db", ".db-wal", ".db-shm"):
                continue  # copied on their own, consistently
            _store(path, f"files/{source.name}/{path.relative_to(source.path).as_posix()}", dest, key, manifest)
    if settings.secrets_file.is_file():
        _store(settings.secrets_file, "secrets.yaml", dest, key, manifest)
    if keys is not None:  # last: it covers every other field
        manifest["mac"] = mac(manifest, keys.mac)
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def _revision(settings: Settings) -> str | None:
    from ivr.tickets.db import current_revision, make_engine

    engine = make_engine(settings.database_url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _store(path: Path, name: str, dest: Path, key: bytes | None, manifest: dict[str, Any]) -> None:
    target = dest / (name + ".enc" if key is not None else name)
    target.parent.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {"name": name}
    if key is None:
        shutil.copyfile(path, target)
        entry["size"] = target.stat().st_size  # what was copied: a file may still grow meanwhile
        entry["sha256"] = sha256(target)
    else:
        with target.open("wb") as out:
            entry["plain_sha256"], entry["size"] = sealed.seal(path, out, key, name)
        entry["sha256"] = sha256(target)
    entry["stored"] = target.relative_to(dest).as_posix()
    manifest["files"].append(entry)
