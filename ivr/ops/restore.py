"""`ivr restore SRC`: a backup into this machine's (fresh) data folder and database.

Checks the whole backup first (`manifest.load`: authenticated with a passphrase, every name
allowed, every file as described) and where each file goes (inside its folder, no symlink on the
way), and writes nothing if anything fails; refuses a target that already holds tickets or audio
unless `--force`; the configuration of the backup goes beside the live one
(`data_dir/restored-config/`) to be compared, never over it. Audio paths stored in the database
are moved to this machine's folders, and the schema is brought up to this release.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path, PurePosixPath

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ivr.clitools import with_store
from ivr.ops import confined, sealed
from ivr.ops.backup import _pg_url, _run, _sqlite_path
from ivr.ops.manifest import DATABASE, BackupError, Checked, Entry, load
from ivr.schema.tickets import Recording, Ticket
from ivr.settings import Settings
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


Place = tuple[Path, PurePosixPath]  # a folder, and a path below it that stays below it


def _place(settings: Settings, name: str) -> Place:
    """Where the entry `name` (an allowed name, see `manifest.name_problem`) goes."""
    if name == "outbox.db":
        return settings.outbox_path.parent, PurePosixPath(settings.outbox_path.name)
    if name == "secrets.yaml":
        live = settings.secrets_file
        if not live.exists() and not live.is_symlink():
            return live.parent, PurePosixPath(live.name)
        return settings.paths.data_dir, PurePosixPath(RESTORED_CONFIG, "secrets.yaml")
    _files, top, rest = name.split("/", 2)
    if top == "config":
        return settings.paths.data_dir, PurePosixPath(RESTORED_CONFIG, "config", rest)
    return targets(settings)[top], PurePosixPath(rest)


def _plan(settings: Settings, checked: Checked) -> list[tuple[Entry, Place]]:
    """Every file's place, or BackupError naming each one that would leave its folder or
    follow a link: checked before the first byte is written."""
    plan: list[tuple[Entry, Place]] = []
    problems: list[str] = []
    db_path = _sqlite_path(settings.database_url)
    if db_path is not None and checked.kind == "sqlite":
        plan.append((checked.database, (db_path.parent, PurePosixPath(db_path.name))))
    for entry in checked.entries:
        if entry.name not in DATABASE.values():
            plan.append((entry, _place(settings, entry.name)))
    seen: dict[str, list[str]] = {}  # one symlinked folder is one problem, whatever it holds
    for entry, (root, rel) in plan:
        problem = confined.target_problem(root, rel)
        if problem is not None:
            seen.setdefault(problem, []).append(entry.name)
    for problem, names in seen.items():
        more = f" and {len(names) - 1} more entries" if len(names) > 1 else ""
        problems.append(f"{names[0]}{more}: {problem}")
    if problems:
        raise BackupError("the restore would write outside its folders, nothing restored:\n  " + "\n  ".join(problems))
    return plan


def _materialise(src: Path, entry: Entry, place: Place, key: bytes | None) -> None:
    """The backup's file `entry` written at `place` (decrypted), checked against the manifest
    again as it is copied: the backup store may change under a running restore."""
    try:
        with confined.open_file(src, entry.stored) as f, confined.write_file(*place) as out:
            if key is None:
                digest = hashlib.sha256()
                for block in iter(lambda: f.read(1024 * 1024), b""):
                    digest.update(block)
                    out.write(block)
                ok = digest.hexdigest() == entry.sha256
            else:
                ok = sealed.unseal(f, out, key, entry.name) == (entry.plain_sha256, entry.size)
            if not ok:
                raise BackupError(f"{entry.stored}: content differs from the manifest (changed during the restore?)")
    except (sealed.SealError, confined.Refused) as exc:
        raise BackupError(f"{entry.name}: {exc}") from None


def restore(settings: Settings, src: Path, passphrase: bytes | None = None, *, force: bool = False) -> dict[str, int]:
    checked = load(src, passphrase)
    plan = _plan(settings, checked)
    occupied = _occupied(settings)
    if occupied and not force:
        raise BackupError("the target is not empty (" + "; ".join(occupied) + "): use a fresh data folder, or --force")
    _restore_database(settings, src, checked)
    counts = {"database": 1, "files": 0}
    for entry, place in plan:
        if entry is checked.database:
            continue
        _materialise(src, entry, place, checked.key)
        counts["files"] += 1
    from ivr.tickets.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)  # a backup of an older release comes up to this one
    engine.dispose()
    where = targets(settings)
    sources = checked.raw.get("sources") or {}
    moves = [(old, str(where[n].resolve())) for n, old in sources.items() if n in where and isinstance(old, str)]

    async def relocate(store: Database) -> int:
        return sum([await Relocation(store).move(old, new) for old, new in moves if old != new])

    counts["audio_paths_moved"] = with_store(settings, relocate)
    return counts


def _restore_database(settings: Settings, src: Path, checked: Checked) -> None:
    path = _sqlite_path(settings.database_url)
    if checked.kind == "sqlite":
        if path is None:
            raise BackupError("the backup's database is SQLite, this machine's is PostgreSQL: not supported")
        for suffix in ("-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        _materialise(src, checked.database, (path.parent, PurePosixPath(path.name)), checked.key)
        return
    if path is not None:
        raise BackupError("the backup's database is PostgreSQL, this machine's is SQLite: not supported")
    with tempfile.TemporaryDirectory(prefix="nul-restore-") as tmp:
        dump = PurePosixPath("database.pgdump")
        _materialise(src, checked.database, (Path(tmp), dump), checked.key)
        cmd = ["pg_restore", "--clean", "--if-exists", "--no-owner", f"--dbname={_pg_url(settings.database_url)}"]
        _run([*cmd, str(Path(tmp) / dump)], "pg_restore")
