"""`ivr doctor`, `ivr service install|check`, `ivr backup`, `ivr restore`: running the line."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ivr.settings import Settings, config_path


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.ops.doctor import FAIL, report, run_checks

    findings = run_checks(settings)
    print(report(findings))
    failed = sum(f.verdict == FAIL for f in findings)
    print(f"\n{len(findings)} checks, {failed} failed" if failed else f"\n{len(findings)} checks, none failed")
    return 1 if failed else 0


def cmd_service_install(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from ivr.ops.services import install

    root = Path(args.root)
    written = install(settings, config_path(args.config, os.environ), root)
    for path in written:
        print(f"wrote {path}")
    if root == Path("/"):
        print("then: systemctl daemon-reload && systemctl enable --now nul-asterisk nul-engine")
    return 0


def _get(settings: Settings, path: str) -> tuple[int, Any]:
    """(HTTP status, JSON body) of the engine's API; status 0 when it does not answer."""
    token = settings.console.api_token
    host = "127.0.0.1" if settings.console.bind in ("0.0.0.0", "::", "") else settings.console.bind
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}
    request = urllib.request.Request(f"http://{host}:{settings.console.port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def ready(settings: Settings, standby: bool) -> bool:
    """Active: `/api/ready` answers 200 (or, on a release without it, health says ARI and AMI are
    up). Standby: the engine's API answers at all; it takes calls only when the active one goes."""
    status, _ = _get(settings, "/api/ready")
    if status == 200:
        return True
    if status == 503:
        return standby
    health_status, health = _get(settings, "/api/health")
    if health_status != 200 or not isinstance(health, dict):
        return False
    return standby or (status == 404 and bool(health.get("ari")) and bool(health.get("ami")))


def cmd_service_check(args: argparse.Namespace, settings: Settings) -> int:
    deadline = time.monotonic() + args.timeout
    while True:
        if ready(settings, args.standby):
            print("engine ready" if not args.standby else "standby engine up")
            return 0
        if time.monotonic() >= deadline:
            print(f"engine not ready after {args.timeout:g} s")
            return 1
        time.sleep(1)


def _passphrase(args: argparse.Namespace) -> bytes | None:
    from ivr.ops.sealed import read_passphrase

    return read_passphrase(Path(args.passphrase_file)) if args.passphrase_file else None


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.ops.backup import backup

    manifest = backup(settings, Path(args.dest), _passphrase(args))
    size = sum(f["size"] for f in manifest["files"])
    db = manifest["database"]
    print(
        f"backup in {args.dest}: database ({db['kind']}, revision {db['revision']}) and "
        f"{len(manifest['files']) - 1} files, {size / 1024**2:.1f} MB"
        f"{', encrypted and authenticated' if manifest['encrypted'] else ' (not encrypted: not authenticated)'}; "
        "checksums in manifest.json"
    )
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.ops.restore import RESTORED_CONFIG, restore

    counts = restore(settings, Path(args.src), _passphrase(args), force=args.force)
    print(
        f"restored the database and {counts['files']} files into {settings.paths.data_dir} "
        f"({counts['audio_paths_moved']} audio paths moved to this machine's folders); the backup's configuration "
        f"is in {settings.paths.data_dir / RESTORED_CONFIG}: compare it with yours"
    )
    return 0


def add_ops_commands(sub: Any, add: Any) -> None:
    add("doctor", cmd_doctor, "check this machine: ports, Asterisk, certificates, disk, clock, database, SMTP")
    service = sub.add_parser("service", help="systemd units").add_subparsers(dest="what", required=True)
    install = add("install", cmd_service_install, "write systemd units and logrotate config", service)
    install.add_argument("--root", default="/", help="write under this folder instead of / (for a look first)")
    check = add("check", cmd_service_check, "wait until the engine is ready (used by the unit)", service)
    check.add_argument("--timeout", type=float, default=60.0)
    check.add_argument("--standby", action="store_true", help="a standby engine: up is enough")
    back = add("backup", cmd_backup, "copy database, audio and config into a new folder, with checksums")
    back.add_argument("dest")
    back.add_argument(
        "--passphrase-file", help="encrypt and authenticate with the passphrase in this file (keep it apart!)"
    )
    rest = add("restore", cmd_restore, "restore a backup into this (fresh) data folder and database")
    rest.add_argument("src")
    rest.add_argument(
        "--passphrase-file", help="the backup's passphrase: a backup that is not encrypted is then refused"
    )
    rest.add_argument("--force", action="store_true", help="overwrite a database with tickets, audio folders")
