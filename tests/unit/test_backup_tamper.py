"""A backup store is often a shared NAS: whoever can write it must not be able to write files
outside the data folder on the next restore, read files outside the backup into it, or (with a
passphrase) make the restore load anything but what `ivr backup` wrote. Every case below refuses
the WHOLE restore before a single byte is written. Real `ivr backup`/`ivr restore` code on real
SQLite data; the attacker edits only the backup folder (and, for the destination cases, plants a
symlink in the fresh data folder)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ivr.cli import main
from ivr.ops.backup import BackupError, backup
from ivr.ops.restore import restore
from ivr.settings import Settings
from tests.unit.test_backup import REPO, fill, restored, settings_for

PASSPHRASE = b"una frase lunga e segreta"
Manifest = dict[str, Any]


def source(tmp_path: Path) -> Settings:
    settings = settings_for(tmp_path / "a", f"sqlite:///{tmp_path / 'a' / 'nul.db'}")
    fill(settings, calls=2)
    return settings


def target(tmp_path: Path) -> Settings:
    return settings_for(tmp_path / "b", f"sqlite:///{tmp_path / 'b' / 'nul.db'}")


def made(tmp_path: Path, passphrase: bytes | None = None) -> Path:
    backup(source(tmp_path), tmp_path / "bk", passphrase)
    return tmp_path / "bk"


def manifest(bk: Path) -> Manifest:
    loaded: Manifest = json.loads((bk / "manifest.json").read_text())
    return loaded


def rewrite(bk: Path, edit: Callable[[Manifest], None]) -> None:
    found = manifest(bk)
    edit(found)
    (bk / "manifest.json").write_text(json.dumps(found, indent=2))


def entry(found: Manifest, name: str) -> dict[str, Any]:
    return next(e for e in found["files"] if e["name"] == name)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir() or p.is_symlink()) if folder.exists() else []


def refused(tmp_path: Path, bk: Path, match: str, passphrase: bytes | None = None) -> BackupError:
    """The restore into the fresh folder b fails naming `match`, and wrote nothing anywhere."""
    before = files_under(tmp_path / "b")
    with pytest.raises(BackupError, match=match) as caught:
        restore(target(tmp_path), bk, passphrase)
    assert files_under(tmp_path / "b") == before, "nothing written into the data folder"
    assert files_under(tmp_path / "outside") == [], "nothing written outside it"
    return caught.value


# -- 1. every target inside its folder ----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "files/config/{outside}/pwned",  # an absolute part after the top folder: the reported attack
        "files/config/../../../outside/pwned",  # .. climbing out of data/restored-config/config
        "{outside}/pwned",  # absolute from the start
        "../outside/pwned",
        "files/elsewhere/pwned",  # a top folder restore does not know
        "files/config",  # a top folder, no file
        "nul.yaml",  # not one of the fixed top-level names
        "files/config/./nul2.yaml",
    ],
)
def test_a_name_outside_its_folder_refuses_the_whole_restore(tmp_path: Path, name: str) -> None:
    bk = made(tmp_path)
    (tmp_path / "outside").mkdir()
    bad = name.replace("{outside}", str(tmp_path / "outside"))
    rewrite(bk, lambda m: entry(m, "files/config/nul.yaml").update(name=bad))
    error = refused(tmp_path, bk, "not a name a backup holds")
    assert bad in str(error)


def test_a_symlink_in_the_destination_is_not_followed(tmp_path: Path) -> None:
    bk = made(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "b" / "restored-config" / "config"
    folder.mkdir(parents=True)
    (folder / "callflows").symlink_to(outside)  # planted in the (otherwise fresh) data folder
    error = refused(tmp_path, bk, "symlink")
    assert str(folder / "callflows") in str(error)
    assert list(outside.iterdir()) == []


def test_a_symlinked_top_folder_in_the_destination_is_refused(tmp_path: Path) -> None:
    bk = made(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "restored-config").symlink_to(outside)
    refused(tmp_path, bk, "restored-config.*symlink")
    assert list(outside.iterdir()) == []


def test_a_symlink_inside_the_backup_is_not_read(tmp_path: Path) -> None:
    bk = made(tmp_path)
    secret = tmp_path / "secret.txt"  # stands for /etc/shadow
    secret.write_text("root:$6$segreto\n")
    audio = bk / "files/voicemail/1-message.wav"
    audio.unlink()
    audio.symlink_to(secret)
    rewrite(bk, lambda m: entry(m, "files/voicemail/1-message.wav").update(sha256=sha(secret), size=16))
    error = refused(tmp_path, bk, "symlink")
    assert "files/voicemail/1-message.wav" in str(error)


def test_a_symlinked_folder_inside_the_backup_is_not_read(tmp_path: Path) -> None:
    bk = made(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for path in (bk / "files/config/prompts").iterdir():
        if path.is_file():
            (outside / path.name).write_text("# not from the backup\n")
    (outside / "custom").mkdir()
    (outside / "custom" / ".keep").write_text("")
    os.rename(bk / "files/config/prompts", tmp_path / "moved")
    (bk / "files/config/prompts").symlink_to(outside)

    def follow(m: Manifest) -> None:
        for e in m["files"]:
            if e["name"].startswith("files/config/prompts/"):
                e.update(sha256=sha(outside / e["name"].removeprefix("files/config/prompts/")))
                e.update(size=(outside / e["name"].removeprefix("files/config/prompts/")).stat().st_size)

    rewrite(bk, follow)
    refused(tmp_path, bk, "files/config/prompts.*symlink")


@pytest.mark.parametrize("stored", ["other entry", "absolute", "dotdot"])
def test_stored_must_be_the_entrys_own_file_in_the_backup(tmp_path: Path, stored: str) -> None:
    bk = made(tmp_path)
    (tmp_path / "secret.txt").write_text("root:$6$segreto\n")
    where = {
        "other entry": "files/voicemail/2-message.wav",
        "absolute": str(tmp_path / "secret.txt"),
        "dotdot": "../secret.txt",
    }[stored]
    read = bk / where if stored != "absolute" else Path(where)

    def point(m: Manifest) -> None:
        entry(m, "files/voicemail/1-message.wav").update(stored=where, sha256=sha(read), size=read.stat().st_size)

    rewrite(bk, point)
    if stored == "other entry":  # the file no entry names any more goes too: only the pointer is off
        (bk / "files/voicemail/1-message.wav").unlink()
    error = refused(tmp_path, bk, "files/voicemail/1-message.wav")
    assert "stored" in str(error)


# -- 2. without a passphrase: the manifest agrees with the folder -------------------------------


def test_a_plain_manifest_must_agree_with_the_folder(tmp_path: Path) -> None:
    bk = made(tmp_path)
    # Two entries with one name: which one would be restored?
    rewrite(bk, lambda m: m["files"].append(dict(entry(m, "files/voicemail/2-message.wav"))))
    refused(tmp_path, bk, "files/voicemail/2-message.wav.*more than once")


def test_a_file_the_manifest_does_not_name_is_refused(tmp_path: Path) -> None:
    bk = made(tmp_path)
    rewrite(bk, lambda m: m["files"].remove(entry(m, "files/voicemail/2-message.wav")))
    refused(tmp_path, bk, "files/voicemail/2-message.wav: a file the manifest does not name")


def test_a_size_that_differs_is_refused(tmp_path: Path) -> None:
    bk = made(tmp_path)
    rewrite(bk, lambda m: entry(m, "files/config/nul.yaml").update(size=1))
    refused(tmp_path, bk, "files/config/nul.yaml.*size")


def test_the_database_entry_must_be_the_database(tmp_path: Path) -> None:
    bk = made(tmp_path)
    rewrite(bk, lambda m: m["database"].update(file="files/voicemail/1-message.wav"))
    refused(tmp_path, bk, "database: kind .sqlite. with file .files/voicemail/1-message.wav. is not a database")


# -- 2. with a passphrase: authenticated ---------------------------------------------------------


def _drop_entry(bk: Path) -> Callable[[Manifest], None]:
    def edit(m: Manifest) -> None:
        gone = entry(m, "files/voicemail/2-message.wav")
        m["files"].remove(gone)
        (bk / gone["stored"]).unlink()

    return edit


@pytest.mark.parametrize("edit", ["drop an entry and its file", "sources", "created_at", "salt"])
def test_an_edited_encrypted_manifest_is_refused(tmp_path: Path, edit: str) -> None:
    bk = made(tmp_path, PASSPHRASE)
    change: Callable[[Manifest], None] = {
        "drop an entry and its file": _drop_entry(bk),
        "sources": lambda m: m["sources"].update(voicemail="/etc"),
        "created_at": lambda m: m.update(created_at="2020-01-01T00:00:00+00:00"),
        "salt": lambda m: m.update(salt="00" * 16),
    }[edit]
    rewrite(bk, change)
    refused(tmp_path, bk, "wrong passphrase, or the manifest was changed", PASSPHRASE)


def test_swapped_sealed_files_are_refused(tmp_path: Path) -> None:
    bk = made(tmp_path, PASSPHRASE)
    one, two = "files/voicemail/1-message.wav", "files/voicemail/2-message.wav"
    os.rename(bk / (one + ".enc"), bk / "swap")
    os.rename(bk / (two + ".enc"), bk / (one + ".enc"))
    os.rename(bk / "swap", bk / (two + ".enc"))

    def swap(m: Manifest) -> None:  # the manifest carries its own checksums: swap them too
        a, b = entry(m, one), entry(m, two)
        for key in ("size", "sha256", "plain_sha256"):
            a[key], b[key] = b[key], a[key]

    rewrite(bk, swap)
    refused(tmp_path, bk, "wrong passphrase, or the manifest was changed", PASSPHRASE)


def test_a_sealed_file_is_bound_to_its_name(tmp_path: Path) -> None:
    """Even with the manifest re-authenticated (which needs the passphrase), a file sealed as one
    entry does not open as another: the name is in every chunk's additional data."""
    from ivr.ops import manifest as signing

    bk = made(tmp_path, PASSPHRASE)
    one, two = "files/voicemail/1-message.wav", "files/voicemail/2-message.wav"
    os.rename(bk / (one + ".enc"), bk / "swap")
    os.rename(bk / (two + ".enc"), bk / (one + ".enc"))
    os.rename(bk / "swap", bk / (two + ".enc"))

    def swap(m: Manifest) -> None:
        a, b = entry(m, one), entry(m, two)
        for key in ("size", "sha256", "plain_sha256"):
            a[key], b[key] = b[key], a[key]
        m["mac"] = signing.mac(m, signing.keys(PASSPHRASE, bytes.fromhex(m["salt"])).mac)

    rewrite(bk, swap)
    refused(tmp_path, bk, f"{one}.enc: .*sealed for another entry", PASSPHRASE)


def test_a_passphrase_for_an_unencrypted_backup_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The attacker replaces the encrypted backup with a plain one of their own (or flips the
    flag): the operator's --passphrase-file is not silently ignored."""
    bk = made(tmp_path, PASSPHRASE)
    rewrite(bk, lambda m: m.update(encrypted=False, salt=None))
    data = tmp_path / "b"
    config = tmp_path / "nul.yaml"
    config.write_text(
        f"paths: {{data_dir: {data}}}\nsecrets_file: {data / 'secrets.yaml'}\n"
        f"callflow: {REPO / 'config/callflows/main.yaml'}\nprompts: {{texts: {REPO / 'config/prompts/it.yaml'}}}\n"
    )
    (tmp_path / "pass").write_text(PASSPHRASE.decode() + "\n")
    args = ["-c", str(config), "restore", str(bk), "--passphrase-file", str(tmp_path / "pass")]
    assert main(args) == 1
    assert "not encrypted" in capsys.readouterr().err
    assert files_under(data) == []

    with pytest.raises(BackupError, match="a plain backup with a MAC"):  # and without the passphrase
        restore(target(tmp_path), bk)
    rewrite(bk, lambda m: m.pop("mac"))
    with pytest.raises(BackupError, match=re.escape("stored as 'database.sqlite.enc', not 'database.sqlite'")):
        restore(target(tmp_path), bk)
    assert files_under(data) == []

    plain = tmp_path / "plain"  # a whole plain backup put in its place
    backup(source(tmp_path / "x"), plain)
    assert main([*args[:3], str(plain), *args[4:]]) == 1
    assert "not encrypted" in capsys.readouterr().err
    assert files_under(data) == []


def test_an_old_encrypted_backup_gives_a_clear_error_and_an_old_plain_one_restores(tmp_path: Path) -> None:
    bk = made(tmp_path, PASSPHRASE)
    rewrite(bk, lambda m: m.update(format=1))
    refused(tmp_path, bk, "format 1.*not authenticated", PASSPHRASE)

    plain = made(tmp_path / "p")
    rewrite(plain, lambda m: m.update(format=1))
    settings = target(tmp_path)
    restore(settings, plain)
    assert len(restored(settings)) == 2


# -- round trips still work ------------------------------------------------------------------------


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_a_good_backup_restores(tmp_path: Path, passphrase: bytes | None) -> None:
    bk = made(tmp_path, passphrase)
    settings = target(tmp_path)
    counts = restore(settings, bk, passphrase)
    assert counts["files"] == len(manifest(bk)["files"]) - 1
    found = restored(settings)
    assert len(found) == 2
    for path, digest in found.values():
        assert sha(Path(path)) == digest
    config = tmp_path / "b" / "restored-config" / "config"
    assert (config / "callflows" / "main.yaml").read_bytes() == (REPO / "config/callflows/main.yaml").read_bytes()
