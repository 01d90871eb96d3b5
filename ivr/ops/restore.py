"""`ivr restore SRC`: a backup into this machine's (fresh) data folder and database.

Checks every checksum first and writes nothing if one fails; refuses a target that already holds
tickets or audio unless `--force`; the configuration of the backup goes beside the live one
(`data_dir/restored-config/`) to be compared, never over it. Audio paths stored in the database
are moved to this machine's folders, and the schema is brought up to this release.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.clitools import with_store
from ivr.ops import sealed
from ivr.ops.backup import BackupError, _pg_url, _run, _sqlite_path, read_manifest, sha256, verify
from ivr.settings import Settings
from ivr.tickets.models import Recording, Ticket
from ivr.tickets.repository import Database, Repository

RESTORED_CONFIG = "restored-config"


class Relocation(Repository):
    async def move(self, old: str, new: str) -> int:
        """Audio rows that named a file under `old` now name it under `new`."""

        def op(session: Session) -> int:
            moved = 0
            for column in (Recording.path, Recording.web_path):
                prefix = old.rstrip("/") + "/"
                result = session.execute(
                    update(Recording)
                    .where(column.startswith(prefix, autoescape=True))
                    .values({column: new.rstrip("/") + "/" + func.substr(column, len(prefix) + 1)})
                    .execution_options(synchronize_session=False)
                )
                moved += int(getattr(result, "rowcount", 0) or 0)
            return moved

        return await self._write(op)

    async def tickets(self) -> int:
        return await self._read(lambda s: int(s.scalar(select(func.count()).select_from(Ticket)) or 0))


def targets(settings: Settings) -> dict[str, Path]:
    data = settings.paths.data_dir
    return {
        "voicemail": settings.voicemail_dir,
        "recordings": data / "recordings",
        "tls": data / "tls",
        "config": data / RESTORED_CONFIG / "config",
    }


def _occupied(settings: Settings) -> list[str]:
    """What restoring would overwrite: tickets in the database, audio in the folders."""
    found = []
    for name in ("voicemail", "recordings"):
        folder = targets(settings)[name]
        if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
            found.append(f"{folder} holds files")
    path = _sqlite_path(settings.database_url)
    if path is None or path.exists():
        try:
            count = with_store(settings, lambda store: Relocation(store).tickets())
        except SQLAlchemyError:
            count = 0  # an empty or unreachable database: the restore itself will say
        if count:
            found.append(f"the database holds {count} tickets")
    return found


def _materialise(src: Path, entry: dict[str, Any], target: Path, key: bytes | None) -> None:
    """The backup's file `entry` written at `target` (decrypted), checked against its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".restoring")
    stored = src / entry["stored"]
    if key is None:
        shutil.copyfile(stored, tmp)
        ok = sha256(tmp) == entry["sha256"]
    else:
        with stored.open("rb") as f, tmp.open("wb") as out:
            ok = sealed.unseal(f, out, key) == entry["plain_sha256"]
    if not ok:
        tmp.unlink()
        raise BackupError(f"{entry['stored']}: content differs from the manifest")
    tmp.replace(target)


def restore(settings: Settings, src: Path, passphrase: bytes | None = None, *, force: bool = False) -> dict[str, int]:
    manifest = read_manifest(src)
    problems = verify(src, manifest)
    if problems:
        raise BackupError("the backup is damaged, nothing restored:\n  " + "\n  ".join(problems))
    key = None
    if manifest["encrypted"]:
        if passphrase is None:
            raise BackupError("this backup is encrypted: give --passphrase-file")
        key = sealed.derive_key(passphrase, bytes.fromhex(manifest["salt"]))
    occupied = _occupied(settings)
    if occupied and not force:
        raise BackupError("the target is not empty (" + "; ".join(occupied) + "): use a fresh data folder, or --force")
    entries = {e["name"]: e for e in manifest["files"]}
    db = manifest["database"]
    try:
        _restore_database(settings, src, entries[db["file"]], db["kind"], key)
    except sealed.SealError as exc:
        raise BackupError(f"database: {exc}") from None
    counts = {"database": 1, "files": 0}
    where = targets(settings)
    for name, entry in entries.items():
        if name == db["file"]:
            continue
        if name == "outbox.db":
            target = settings.outbox_path
        elif name == "secrets.yaml":
            live = settings.secrets_file
            target = live if not live.exists() else settings.paths.data_dir / RESTORED_CONFIG / "secrets.yaml"
        else:
            _files, source, rest = name.split("/", 2)
            target = where[source] / rest
        try:
            _materialise(src, entry, target, key)
        except sealed.SealError as exc:
            raise BackupError(f"{name}: {exc}") from None
        if name in ("secrets.yaml", "outbox.db"):
            target.chmod(0o600)
        counts["files"] += 1
    from ivr.tickets.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)  # a backup of an older release comes up to this one
    engine.dispose()
    moves = [(old, str(where[n].resolve())) for n, old in (manifest.get("sources") or {}).items() if n in where]

    async def relocate(store: Database) -> int:
        return sum([await Relocation(store).move(old, new) for old, new in moves if old != new])

    counts["audio_paths_moved"] = with_store(settings, relocate)
    return counts


def _restore_database(settings: Settings, src: Path, entry: dict[str, Any], kind: str, key: bytes | None) -> None:
    path = _sqlite_path(settings.database_url)
    if kind == "sqlite":
        if path is None:
            raise BackupError("the backup's database is SQLite, this machine's is PostgreSQL: not supported")
        for suffix in ("-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        _materialise(src, entry, path, key)
        os.chmod(path, 0o600)
        return
    if path is not None:
        raise BackupError("the backup's database is PostgreSQL, this machine's is SQLite: not supported")
    with tempfile.TemporaryDirectory(prefix="nul-restore-") as tmp:
        dump = Path(tmp) / "database.pgdump"
        _materialise(src, entry, dump, key)
        cmd = ["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={_pg_url(settings.database_url)}"]
        _run([*cmd, str(dump)], "pg_restore")
