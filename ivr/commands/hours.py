"""`ivr hours` and `ivr closure ...`: is the line open, and the administrator's closures."""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ivr.clitools import with_store
from ivr.errors import SetupError
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.hours.closing import ClosureDesk
    from ivr.hours.closures import RuntimeClosures
    from ivr.tickets.audit import Actor
    from ivr.tickets.store import SqlTicketStore


def _moment(text: str | None, settings: Settings) -> datetime:
    from ivr.assembly import Assembly

    if text is None:
        return Assembly(settings).clock.now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SetupError(f"{text!r} is not an ISO time like 2026-04-06T10:00 or 2026-04-06T10:00+02:00") from None
    if moment.tzinfo is None:  # a wall-clock time on the line's own clock
        moment = moment.replace(tzinfo=settings.service.tz)
    return moment


def _closures(settings: Settings, store: SqlTicketStore) -> RuntimeClosures:
    from ivr.assembly import Assembly

    return Assembly(settings).closures_on(store)


def _desk(settings: Settings, store: SqlTicketStore) -> ClosureDesk:
    """The console's own path: the closure, its message and its audit entry."""
    from ivr.assembly import Assembly
    from ivr.console.accounts import Accounts
    from ivr.hours.closing import ClosureDesk

    parts = Assembly(settings)
    return ClosureDesk(
        _closures(settings, store), parts.prompts.build_one, Accounts(store).audit, parts.calendar.next_opening
    )


def _actor(by: str | None) -> Actor:
    from ivr.tickets.audit import Actor

    return Actor(login=f"cli:{by or getpass.getuser()}")


def cmd_hours(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.assembly import Assembly

    calendar = Assembly(settings).calendar
    at = _moment(args.at, settings)
    status = calendar.status(at, with_store(settings, lambda store: _closures(settings, store).current(at)))
    print(status.describe())
    print(f"weekly hours: {calendar.describe_week()}")
    return 0 if status.open else 1


def cmd_closure_list(args: argparse.Namespace, settings: Settings) -> int:
    now = _moment(None, settings)
    tz = settings.service.tz
    rows = with_store(settings, lambda store: _closures(settings, store).rows(None if args.all else now))
    for c in settings.hours.closures:
        first, after = c.bounds()
        print(f"config:{c.id:12} {first:%Y-%m-%d %H:%M} -> {after:%Y-%m-%d %H:%M}  {c.reason}")
    for row in rows:
        end = f"{row.ends_at.astimezone(tz):%Y-%m-%d %H:%M}" if row.ends_at else "until ended"
        state = "in effect" if row.starts_at <= now and (row.ends_at is None or row.ends_at > now) else ""
        print(f"rt-{row.id:<12} {row.starts_at.astimezone(tz):%Y-%m-%d %H:%M} -> {end}  {row.reason} {state}")
    if not rows and not settings.hours.closures:
        print("no closures")
    return 0


def cmd_closure_add(args: argparse.Namespace, settings: Settings) -> int:
    now = _moment(None, settings)
    start = now if args.now else _moment(args.start, settings)
    end = _moment(args.end, settings) if args.end else None
    if not args.now and end is None:
        raise SetupError("give --to (or use --now for a closure until the next opening, or --until-ended)")
    by = _actor(args.by)
    try:
        if args.now:
            closure_id, end = with_store(
                settings,
                lambda store: _desk(settings, store).close_now(
                    args.reason, args.message, at=now, by=by, until_ended=args.until_ended
                ),
            )
        else:
            closure_id = with_store(
                settings, lambda store: _desk(settings, store).add(start, end, args.reason, args.message, at=now, by=by)
            )
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    tz = settings.service.tz
    until = f"until {end.astimezone(tz):%Y-%m-%d %H:%M}" if end else "until `ivr closure end`"
    print(f"closure rt-{closure_id} from {start.astimezone(tz):%Y-%m-%d %H:%M} {until}: {args.reason}")
    return 0


def cmd_closure_end(args: argparse.Namespace, settings: Settings) -> int:
    now = _moment(None, settings)
    ident = None if args.id == "all" else int(args.id.removeprefix("rt-"))
    ended = with_store(settings, lambda store: _desk(settings, store).end(ident, at=now, by=_actor(args.by)))
    print(f"{ended} closure(s) ended" if ended else "no closure in effect to end")
    return 0 if ended else 1


def add_hours_commands(sub: Any, add: Any) -> None:
    hours = add("hours", cmd_hours, "is the line open now (or --at a time), and why", sub)
    hours.add_argument("--at", help="ISO time; without a zone it is the line's local time")

    closure = sub.add_parser("closure", help="closures set by an administrator").add_subparsers(
        dest="what", required=True
    )
    add("list", cmd_closure_list, "closures from config and from the store", closure).add_argument(
        "--all", action="store_true", help="include the ones already over"
    )
    new = add("add", cmd_closure_add, "close the line for a span, or --now until the next opening", closure)
    new.add_argument("--now", action="store_true", help="closed from now until the next opening in the hours")
    new.add_argument(
        "--until-ended", action="store_true", help="with --now: closed until `ivr closure end`, not reopening by itself"
    )
    new.add_argument("--from", dest="start", help="start (ISO time, local)")
    new.add_argument("--to", dest="end", help="end (ISO time, local)")
    new.add_argument("--reason", required=True, help="why (recorded on every ticket meanwhile)")
    new.add_argument("--message", help="what callers hear (Italian; synthesised now)")
    new.add_argument("--by", help="who set it")
    end = add("end", cmd_closure_end, "end a closure now (ID like rt-3, or 'all')", closure)
    end.add_argument("id")
    end.add_argument("--by", help="who ended it")
