"""`ivr requests ...` (web requests) and `ivr sla ...` (commitments) for supervisors."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ivr.clitools import now as engine_now
from ivr.clitools import with_store
from ivr.schema.tickets import Ticket
from ivr.settings import Settings
from ivr.tickets import sla
from ivr.tickets.store import SqlTicketStore
from ivr.webrequests import service
from ivr.webrequests.service import RequestView, WebRequests

if TYPE_CHECKING:
    from ivr.webrequests.channel import WebRequestChannel

T = TypeVar("T")


def _line(r: RequestView, settings: Settings) -> str:
    tz = settings.service.tz
    flag = f" [{r.sla_flag.upper()}]" if r.sla_flag else ""
    who = f" -> {r.assigned_to}" if r.assigned_to else ""
    return (
        f"#{r.ticket_id:<6} {r.received_at.astimezone(tz):%Y-%m-%d %H:%M} due {r.due.astimezone(tz):%Y-%m-%d %H:%M} "
        f"L{r.level} {r.status:9}{who}{flag} {r.topic:10} {r.subject[:60]}"
    )


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    found = _on_requests(settings, lambda r: r.listing(status=args.status, level=args.level, limit=args.limit))
    for r in found:
        print(_line(r, settings))
    if not found:
        print("no web requests")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    r = _on_requests(settings, lambda requests: requests.view(args.id))
    print(_line(r, settings))
    print(f"from {r.name} <{r.email}>{' tel. ' + r.phone if r.phone else ''}")
    print(textwrap.indent(textwrap.fill(r.message, 90), "  "))
    if r.escalated_at is not None and r.first_due is not None:
        at = r.escalated_at.astimezone(settings.service.tz)
        first = "within" if r.escalated_at <= r.first_due else "AFTER"
        print(f"second level since {at:%Y-%m-%d %H:%M} (notice {first} the 48 hours); e-mail answer due as above")
    if r.replied_at is not None:
        when = r.replied_at.astimezone(settings.service.tz)
        print(f"replied {when:%Y-%m-%d %H:%M} by {r.replied_by or '-'} ({'in time' if r.in_time else 'late'}):")
        print(textwrap.indent(textwrap.fill(r.reply or "", 90), "  "))
    return 0


def cmd_assign(args: argparse.Namespace, settings: Settings) -> int:
    now = engine_now(settings)
    _on_requests(settings, lambda r: r.assign(args.id, args.operator, now, by=args.by))
    print(f"request #{args.id} assigned to {args.operator}")
    return 0


def _with_channel(settings: Settings, act: Callable[[WebRequestChannel], Awaitable[T]]) -> T:
    """Run `act` on a web channel of its own (store, mailer, clock), as the engine's would."""
    from ivr.assembly import Assembly
    from ivr.webrequests.channel import WebRequestChannel

    parts = Assembly(settings)

    async def go(store: SqlTicketStore) -> T:
        channel = WebRequestChannel(
            store,
            parts.mailer,
            parts.clock,
            settings.web_requests,
            settings.sla,
            tz=settings.service.tz,
            service_name=settings.service.name,
        )
        return await act(channel)

    return with_store(settings, go)


def _on_requests(settings: Settings, act: Callable[[WebRequests], Awaitable[T]]) -> T:
    async def go(store: SqlTicketStore) -> T:
        return await act(WebRequests(store))

    return with_store(settings, go)


def _on_commitments(settings: Settings, act: Callable[[sla.Commitments], Awaitable[T]]) -> T:
    async def go(store: SqlTicketStore) -> T:
        return await act(sla.Commitments(store, settings.sla))

    return with_store(settings, go)


def cmd_reply(args: argparse.Namespace, settings: Settings) -> int:
    """Store the reply and e-mail it (when mail.host is set), as the console does."""
    text = args.text if args.text is not None else input("reply: ")
    view, sent = _with_channel(settings, lambda channel: channel.answer(args.id, text, args.by))
    mailed = "e-mailed" if sent else "NOT e-mailed (mail.host unset or the server refused): tell the citizen otherwise"
    print(f"request #{view.ticket_id} answered {'in time' if view.in_time else 'late'}; reply {mailed}")
    return 0


def cmd_escalate(args: argparse.Namespace, settings: Settings) -> int:
    """To the second level: the citizen is told by e-mail, the answer is due in 10 days."""
    view, sent = _with_channel(settings, lambda channel: channel.escalate(args.id, args.note, args.by))
    due = view.due.astimezone(settings.service.tz)
    told = "notice e-mailed" if sent else "notice NOT e-mailed (mail.host unset or the server refused)"
    print(f"request #{view.ticket_id} at the second level, e-mail answer due {due:%Y-%m-%d %H:%M}; {told}")
    return 0


def cmd_sla_check(args: argparse.Namespace, settings: Settings) -> int:
    now = engine_now(settings)

    async def check(commitments: sla.Commitments) -> tuple[sla.Flagged, list[Ticket]]:
        return await commitments.flag(now), await commitments.flagged()

    flagged, waiting = _on_commitments(settings, check)
    print(f"flagged now: {len(flagged.near)} near due, {len(flagged.overdue)} past due")
    tz = settings.service.tz
    for t in waiting:
        due = t.callback_due.astimezone(tz) if t.callback_due else None
        print(f"#{t.id:<6} {t.sla_kind:15} {t.sla_flag:8} due {due:%Y-%m-%d %H:%M} status {t.status or '-'}")
    return 0


def cmd_sla_report(args: argparse.Namespace, settings: Settings) -> int:
    now = engine_now(settings)
    today = now.astimezone(settings.service.tz).date()
    end = date.fromisoformat(args.to) if args.to else today
    start = date.fromisoformat(args.since) if args.since else end - timedelta(days=29)
    rows = _on_commitments(settings, lambda c: c.compliance(start, end, now))
    print(f"commitments for tickets of {start} .. {end}")
    for c in rows:
        rate = "-" if c.rate is None else f"{c.rate:.1%}"
        verdict = {True: "met", False: "MISSED", None: "no data"}[c.met]
        print(
            f"{c.kind:15} in time {c.in_time:6} late {c.late:6} pending {c.pending:6} "
            f"rate {rate:>6} target {c.target:.0%} {verdict}"
        )
    return 0


def add_request_commands(sub: Any, add: Any) -> None:
    req = sub.add_parser("requests", help="web requests").add_subparsers(dest="what", required=True)
    lst = add("list", cmd_list, "web requests, the most urgent first", req)
    lst.add_argument("--status", choices=service.STATUSES)
    lst.add_argument("--level", type=int, choices=service.LEVELS, help="1: first level (48 hours), 2: second")
    lst.add_argument("-n", "--limit", type=int, default=50)
    show = add("show", cmd_show, "one request with its text and reply", req)
    show.add_argument("id", type=int)
    assign = add("assign", cmd_assign, "give the request to an operator", req)
    assign.add_argument("id", type=int)
    assign.add_argument("operator")
    assign.add_argument("--by")
    reply = add("reply", cmd_reply, "answer the request (stored, then e-mailed)", req)
    reply.add_argument("id", type=int)
    reply.add_argument("--text", help="the reply (default: read one line from standard input)")
    reply.add_argument("--by", help="who answers")
    esc = add("escalate", cmd_escalate, "pass the request to the second level (e-mail answer in 10 days)", req)
    esc.add_argument("id", type=int)
    esc.add_argument("--note", required=True, help="why it needs further work (kept on the timeline)")
    esc.add_argument("--by", help="who escalates")

    s = sub.add_parser("sla", help="service commitments").add_subparsers(dest="what", required=True)
    add("check", cmd_sla_check, "flag tickets near or past due now and list them", s)
    report = add("report", cmd_sla_report, "compliance per commitment (default: the last 30 days)", s)
    report.add_argument("--from", dest="since", help="first local day, YYYY-MM-DD")
    report.add_argument("--to", help="last local day, YYYY-MM-DD")
