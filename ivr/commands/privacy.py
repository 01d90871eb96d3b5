"""`ivr privacy ...`: legal holds, the purge by hand (or dry), and what is due."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from ivr.clitools import now as engine_now
from ivr.clitools import with_store
from ivr.privacy import holds
from ivr.privacy.holds import HoldView, PrivacyError
from ivr.privacy.purge import Purger, PurgeResult
from ivr.settings import Settings
from ivr.tickets.store import SqlTicketStore

T = TypeVar("T")

LABELS = {
    "recordings": "call recordings",
    "voicemail_audio": "voicemail audio",
    "transcripts": "transcripts",
    "caller_data": "caller data (tickets)",
    "survey_answers": "survey answers",
    "sessions": "console sessions",
    "audit": "access audit entries",
    "spool_audio": "audio in Asterisk's spool",
    "asterisk_logs": "Asterisk's rotated logs",
}
FILE_KINDS = ("recordings", "voicemail_audio", "spool_audio", "asterisk_logs")


def _hold_line(h: HoldView, settings: Settings) -> str:
    tz = settings.service.tz
    line = f"ticket #{h.ticket_id}: held {h.held_at.astimezone(tz):%Y-%m-%d %H:%M} by {h.held_by}: {h.reason}"
    if h.released_at is not None:
        line += f" (released {h.released_at.astimezone(tz):%Y-%m-%d %H:%M} by {h.released_by})"
    return line


def _on_holds(settings: Settings, act: Callable[[holds.LegalHolds], Awaitable[T]]) -> T:
    async def go(store: SqlTicketStore) -> T:
        return await act(holds.LegalHolds(store))

    return with_store(settings, go)


def cmd_hold(args: argparse.Namespace, settings: Settings) -> int:
    at = engine_now(settings)
    try:
        view = _on_holds(settings, lambda h: h.hold(args.ticket, reason=args.reason, by=args.by, at=at))
    except PrivacyError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    print(_hold_line(view, settings))
    return 0


def cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    at = engine_now(settings)
    try:
        view = _on_holds(settings, lambda h: h.release(args.ticket, by=args.by, at=at))
    except PrivacyError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 1
    print(_hold_line(view, settings))
    return 0


def cmd_holds(args: argparse.Namespace, settings: Settings) -> int:
    found = _on_holds(settings, lambda h: h.listing(include_released=args.all))
    for h in found:
        print(_hold_line(h, settings))
    if not found:
        print("no legal holds")
    return 0


@contextlib.contextmanager
def _purger(settings: Settings) -> Iterator[Purger]:
    from ivr.privacy.jobs import asterisk_dirs
    from ivr.recordings.paths import audio_dirs
    from ivr.tickets.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        yield Purger(engine, settings.retention, asterisk_dirs(settings), audio_dirs=audio_dirs(settings))
    finally:
        engine.dispose()


def _print(result: PurgeResult, settings: Settings, *, heading: str, verb: str) -> None:
    tz = settings.service.tz
    print(heading)
    for kind, label in LABELS.items():
        got = result.kinds[kind]
        cut = result.cutoffs[kind].astimezone(tz)
        files = f", {got.files} file(s)" if kind in FILE_KINDS else ""
        print(f"  {label:24} {got.items:6} {verb}{files}   (older than {cut:%Y-%m-%d %H:%M})")
    print(f"  legal holds: {result.held_tickets} ticket(s) exempt")


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    now = engine_now(settings)
    if args.dry_run:
        with _purger(settings) as purger:
            result = purger.due(now)
        _print(result, settings, heading="dry run: nothing changed; a purge now would remove", verb="item(s)")
        for path in result.files_due:
            print(f"  would delete: {path}")
        if result.failed_files:
            print(f"  {len(result.failed_files)} file(s) from earlier runs are still to delete")
        return 0
    with _purger(settings) as purger:
        result = purger.run(now, trigger="command", by=args.by)
    _print(result, settings, heading=f"purge run #{result.run_id}: removed", verb="item(s)")
    print(f"  files deleted: {result.files_deleted}")
    for path, error in result.failed_files:
        print(f"  NOT deleted (retried at the next run): {path}: {error}")
    return 1 if result.failed_files else 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    with _purger(settings) as purger:
        result = purger.due(engine_now(settings))
    r = settings.retention
    state = f"daily at {r.hour:02d}:00" if r.enabled else "daily purge switched off (retention.enabled)"
    _print(result, settings, heading=f"retention ({state}): due now", verb="due")
    for path, error in result.failed_files:
        print(f"  file still to delete: {path}: {error}")
    return 0


def add_privacy_commands(sub: Any, add: Any) -> None:
    privacy = sub.add_parser("privacy", help="retention of personal data, legal holds").add_subparsers(
        dest="what", required=True
    )
    hold = add("hold", cmd_hold, "put a ticket under a legal hold: nothing of it is purged until released", privacy)
    hold.add_argument("ticket", type=int)
    hold.add_argument("--reason", required=True, help="why (kept with the hold, not on the timeline)")
    hold.add_argument("--by", required=True, help="who orders it")
    release = add("release", cmd_release, "lift a ticket's legal hold", privacy)
    release.add_argument("ticket", type=int)
    release.add_argument("--by", required=True, help="who lifts it")
    listing = add("holds", cmd_holds, "tickets under a legal hold", privacy)
    listing.add_argument("--all", action="store_true", help="released holds too")
    purge = add("purge", cmd_purge, "remove personal data past its retention period, now", privacy)
    purge.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    purge.add_argument("--by", help="who runs it (kept in the purge log and the audit)")
    add("report", cmd_report, "how much of each kind is due for removal", privacy)
