"""The backup's `manifest.json`: what it may name, and the checks a restore makes of it and of
the backup folder before it writes anything.

Format 2 (this release): with a passphrase the manifest carries an HMAC-SHA256 (key derived from
the passphrase, see `sealed.keys`) over its canonical JSON, so whoever can write the backup store
cannot change a name, a checksum, the `encrypted` flag or anything else without the passphrase;
each sealed file is also bound to its entry's name. Without a passphrase nothing can be
authenticated: the manifest is only checked to agree with the folder. Format 1 plain backups are
still read (they differ only in the number); format 1 encrypted ones are refused, as they are not
authenticated.

Names are a fixed set, so that a name can never designate a place outside the restore's
folders: the database file, `outbox.db`, `secrets.yaml`, `files/<top>/<relative path>`; each
entry's file in the backup (`stored`) is its name (plus `.enc` when sealed), nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ivr.errors import SetupError
from ivr.ops import confined, sealed
from ivr.ops.sealed import keys

__all__ = ["FORMAT", "MANIFEST", "BackupError", "Checked", "Entry", "keys", "load", "mac"]

MANIFEST = "manifest.json"
FORMAT = 2
DATABASE = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
TOPS = ("voicemail", "recordings", "tls", "config")
SINGLE = ("outbox.db", "secrets.yaml")
_SHA = re.compile(r"[0-9a-f]{64}")
_MAC_DOMAIN = b"nul backup manifest 2\n"
_SHOWN = 20  # problems listed in one error; the rest are counted


class BackupError(SetupError):
    pass


@dataclass(frozen=True)
class Entry:
    name: str
    stored: PurePosixPath
    size: int
    sha256: str  # of the stored file
    plain_sha256: str | None  # of the content, when sealed


@dataclass(frozen=True)
class Checked:
    """A manifest whose every entry was found in the folder as it says."""

    raw: dict[str, Any]
    entries: list[Entry]
    key: bytes | None  # the sealing key, for an encrypted backup
    database: Entry
    kind: str


def mac(manifest: dict[str, Any], key: bytes) -> str:
    """HMAC of the canonical JSON: sorted keys, no spaces, ASCII; every field but `mac`."""
    body = {k: v for k, v in manifest.items() if k != "mac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, _MAC_DOMAIN + canonical.encode("ascii"), hashlib.sha256).hexdigest()


def name_problem(name: object) -> str | None:
    allowed = (
        "database.sqlite, database.pgdump, outbox.db, secrets.yaml, files/<voicemail|recordings|tls|config>/<path>"
    )
    refused = f"{name!r}: not a name a backup holds ({allowed}; no absolute part, no '.', '..' or empty part)"
    if not isinstance(name, str):
        return refused
    if name in DATABASE.values() or name in SINGLE:
        return None
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != "files" or parts[1] not in TOPS:
        return refused
    if any(p in ("", ".", "..") or "\0" in p for p in parts[2:]):
        return refused
    return None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise BackupError(f"{MANIFEST}: the key {key!r} appears twice in one object: refused")
        found[key] = value
    return found


def _read(src: Path) -> dict[str, Any]:
    if not src.is_dir():
        raise BackupError(f"{src} is not a folder")
    if not (src / MANIFEST).exists() and not (src / MANIFEST).is_symlink():
        raise BackupError(f"{src} is not a backup (no {MANIFEST})")
    try:
        with confined.open_file(src, PurePosixPath(MANIFEST)) as f:
            text = f.read()
        manifest = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except confined.Refused as exc:
        raise BackupError(str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise BackupError(f"{src / MANIFEST}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BackupError(f"{src / MANIFEST}: not a backup manifest")
    return manifest


def load(src: Path, passphrase: bytes | None) -> Checked:
    """The backup at `src`, checked whole: authenticated (with a passphrase), every name allowed,
    every file present as described and nothing else there. Raises BackupError naming each
    problem; nothing has been written when it does."""
    raw = _read(src)
    form, encrypted = raw.get("format"), raw.get("encrypted")
    if form not in (1, FORMAT):
        raise BackupError(f"{src}: backup format {form!r} is not known to this release")
    if not isinstance(encrypted, bool):
        raise BackupError(f"{src / MANIFEST}: 'encrypted' must be true or false")
    if encrypted and form == 1:
        raise BackupError(
            f"{src}: backup format 1 (release {raw.get('version')}) is encrypted but not authenticated "
            "(its manifest carries its own checksums, its files are not bound to their names): this release "
            "does not restore it. Restore it with the release that made it, on a machine you trust, "
            "then take a new backup"
        )
    key = _authenticate(src, raw, encrypted, passphrase)
    problems: list[str] = []
    entries, database, kind = _entries(raw, encrypted, problems)
    if not problems:  # format 1 took a file's size before copying it: only its checksum is sure
        _check_folder(src, entries, key, problems, sizes=form == FORMAT)
    if problems:
        shown = problems[:_SHOWN] + ([f"... and {len(problems) - _SHOWN} more"] if len(problems) > _SHOWN else [])
        raise BackupError("the backup is damaged or was changed, nothing restored:\n  " + "\n  ".join(shown))
    if database is None or kind is None:  # _entries reported it; kept for the type
        raise BackupError(f"{src / MANIFEST}: no database entry")
    return Checked(raw, entries, key.seal if key else None, database, kind)


def _authenticate(src: Path, raw: dict[str, Any], encrypted: bool, passphrase: bytes | None) -> sealed.Keys | None:
    if not encrypted:
        if passphrase is not None:
            raise BackupError(
                f"{src}: this backup says it is not encrypted, but a passphrase was given: refused. Whoever can "
                "write the backup store may have replaced an encrypted backup with one of their own; restore "
                "without --passphrase-file only a backup you know was made without one"
            )
        if "mac" in raw:
            raise BackupError(
                f"{src / MANIFEST}: a plain backup with a MAC: the manifest was changed, nothing restored"
            )
        return None
    if passphrase is None:
        raise BackupError("this backup is encrypted: give --passphrase-file")
    salt, given = raw.get("salt"), raw.get("mac")
    if not isinstance(salt, str) or not re.fullmatch(r"[0-9a-f]{32}", salt) or not isinstance(given, str):
        raise BackupError(f"{src / MANIFEST}: encrypted, but without a valid salt and MAC: nothing restored")
    derived = keys(passphrase, bytes.fromhex(salt))
    if not hmac.compare_digest(mac(raw, derived.mac).encode(), given.encode("utf-8", "replace")):
        raise BackupError(f"{src}: wrong passphrase, or the manifest was changed: nothing restored")
    return derived


def _entries(raw: dict[str, Any], encrypted: bool, problems: list[str]) -> tuple[list[Entry], Entry | None, str | None]:
    files, db = raw.get("files"), raw.get("database")
    if not isinstance(files, list) or not isinstance(db, dict) or not isinstance(raw.get("sources", {}), dict):
        problems.append(f"{MANIFEST}: 'files', 'database' or 'sources' missing or malformed")
        return [], None, None
    entries: dict[str, Entry] = {}
    for index, item in enumerate(files):
        entry = _entry(item, encrypted, f"entry {index + 1}", problems)
        if entry is None:
            continue
        if entry.name in entries:
            problems.append(f"{entry.name}: named more than once in the manifest")
            continue
        entries[entry.name] = entry
    kind = db.get("kind")
    if kind not in DATABASE or db.get("file") != DATABASE[kind]:
        problems.append(f"database: kind {kind!r} with file {db.get('file')!r} is not a database a backup holds")
        return list(entries.values()), None, None
    other = next(n for k, n in DATABASE.items() if k != kind)
    if other in entries:
        problems.append(f"{other}: a {kind} backup holds no such database file")
    if DATABASE[kind] not in entries:
        problems.append(f"database: {DATABASE[kind]} is not in the manifest")
        return list(entries.values()), None, None
    return list(entries.values()), entries[DATABASE[kind]], kind


def _entry(item: object, encrypted: bool, where: str, problems: list[str]) -> Entry | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: not an object")
        return None
    name = item.get("name")
    problem = name_problem(name)
    if problem is not None:
        problems.append(problem)
        return None
    assert isinstance(name, str)
    stored, size, digest, plain = item.get("stored"), item.get("size"), item.get("sha256"), item.get("plain_sha256")
    expected = name + ".enc" if encrypted else name
    if stored != expected:
        problems.append(f"{name}: stored as {stored!r}, not {expected!r}: an entry's file is its own, in the backup")
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        problems.append(f"{name}: size {size!r} is not a number of bytes")
        return None
    if not isinstance(digest, str) or not _SHA.fullmatch(digest):
        problems.append(f"{name}: sha256 {digest!r} is not a sha256")
        return None
    if encrypted != (isinstance(plain, str) and bool(_SHA.fullmatch(plain))) or (not encrypted and plain is not None):
        problems.append(f"{name}: plain_sha256 {plain!r} does not fit an {'en' if encrypted else 'un'}encrypted backup")
        return None
    return Entry(name, PurePosixPath(expected), size, digest, plain if encrypted else None)


def _check_folder(
    src: Path, entries: list[Entry], key: sealed.Keys | None, problems: list[str], *, sizes: bool
) -> None:
    """Each entry's file read once: its checksum, its size, and for a sealed one every chunk."""
    for entry in entries:
        try:
            with confined.open_file(src, entry.stored) as f:
                problem = _check_content(f, entry, key, sizes)
        except confined.Refused as exc:
            problem = f"{entry.name}: {exc}"
        except FileNotFoundError:
            problem = f"{entry.stored}: missing"
        if problem:
            problems.append(problem)
    problems.extend(confined.stray(src, {MANIFEST, *(e.stored.as_posix() for e in entries)}))


class _Hashing:
    """A reader that hashes what passes through: the stored file's checksum and its decryption
    in one read."""

    def __init__(self, inner: sealed.Reader) -> None:
        self.inner, self.digest, self.size = inner, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.inner.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _check_content(f: sealed.Reader, entry: Entry, key: sealed.Keys | None, sizes: bool) -> str | None:
    reader = _Hashing(f)
    plain: tuple[str, int] | None = None
    sealed_problem = None
    if key is not None:
        try:
            plain = sealed.unseal(reader, None, key.seal, entry.name)
        except sealed.SealError as exc:
            sealed_problem = f"{entry.stored}: {exc}"
    while reader.read(sealed.CHUNK):
        pass  # the whole file counts in the checksum, whatever the decryption left unread
    if reader.digest.hexdigest() != entry.sha256:
        return f"{entry.stored}: checksum differs (damaged or changed)"
    if sealed_problem:
        return sealed_problem
    if plain is not None and plain != (entry.plain_sha256, entry.size):
        return f"{entry.stored}: content or size differs from the manifest"
    if key is None and sizes and reader.size != entry.size:
        return f"{entry.stored}: size {reader.size} differs from the manifest's {entry.size}"
    return None
