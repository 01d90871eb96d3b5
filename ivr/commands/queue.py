"""`ivr operator ...`, `ivr queue status`, `ivr ticket outcome`: the queue from the command line,
for scripts and for administrators without the console. Operators are changed through the same
repository the engine and the console use; presence goes through the running engine."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ivr.apiclient import call_api
from ivr.clitools import now, with_store
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.acd.operators import OperatorDirectory
    from ivr.tickets.store import SqlTicketStore


def _directory(settings: Settings, store: SqlTicketStore) -> OperatorDirectory:
    from ivr.acd.operators import OperatorDirectory

    return OperatorDirectory(store, settings.dialout)


def cmd_operator_add(args: argparse.Namespace, settings: Settings) -> int:
    skills = [s for s in (args.skills or "").split(",") if s]
    at = now(settings)
    info, password = with_store(
        settings,
        lambda store: _directory(settings, store).add(
            args.login,
            args.name or args.login,
            now=at,
            softphone=not args.no_softphone,
            password=args.password,
            outside_number=args.phone,
            skills=skills,
        ),
    )
    print(f"operator {info.login} added ({', '.join(skills) or 'every topic'})")
    if password and not args.password:
        a = settings.asterisk
        print(f"softphone: user {info.sip_user}, password {password}, server {a.sip.bind}:{a.sip.port}, realm nul")
        print("(the password is not stored and will not be shown again)")
    return 0


def cmd_operator_update(args: argparse.Namespace, settings: Settings) -> int:
    skills = None if args.skills is None else [s for s in args.skills.split(",") if s]

    async def go(store: SqlTicketStore) -> int:
        directory = _directory(settings, store)
        info = await directory.update(
            args.login,
            outside_number=args.phone,
            skills=skills,
            name=args.name,
            active=None if args.active is None else args.active == "yes",
        )
        if args.new_password:
            password = await directory.set_password(args.login)
            print(f"new softphone password for {info.sip_user}: {password}")
        print(f"operator {info.login} updated")
        return 0

    return with_store(settings, go)


def cmd_operator_list(args: argparse.Namespace, settings: Settings) -> int:
    for op in with_store(settings, lambda store: _directory(settings, store).all(active_only=not args.all)):
        reach = ", ".join(filter(None, ["softphone" if op.softphone else "", op.outside_number or ""]))
        pause = f" ({op.pause_reason})" if op.pause_reason else ""
        print(f"{op.login:16} {op.name:24} {op.presence + pause:28} {reach:28} {','.join(op.skills) or '*'}")
    return 0


def _presence(presence: str) -> Any:
    def cmd(args: argparse.Namespace, settings: Settings) -> int:
        body = {"presence": presence, "reason": getattr(args, "reason", None)}
        result = call_api(settings, "POST", f"/api/operators/{args.login}/presence", body)
        later = " (after the current call)" if result.get("deferred") else ""
        print(f"{args.login}: {presence}{later}; now {result['state']}")
        return 0

    return cmd


def cmd_queue_status(args: argparse.Namespace, settings: Settings) -> int:
    state = call_api(settings, "GET", "/api/queue")
    print(
        f"{state['today']}: {state['admitted_today']} of {state['daily_cap']} calls admitted; "
        f"{state.get('in_person', len(state['waiting']))} waiting on the line "
        f"(longest {state['longest_wait_s']:.0f} s), "
        f"{state.get('callbacks', 0)} queued callbacks; "
        f"{state['calls_in_progress']} calls in progress"
    )
    for call in state["waiting"]:
        offered = f" ringing {call['offered_to']}" if call["offered_to"] else ""
        kind = "callback" if call.get("callback") else "waiting "
        print(
            f"  {kind} #{call['ticket']} {call['caller'] or 'anonymous'} {call['topic'] or '-'} "
            f"{call['waited_s']:.0f} s{offered}"
        )
    for op in state["operators"]:
        reason = f" ({op['reason']})" if op["reason"] else ""
        phone = "registered" if op["registered"] else "not registered"
        print(f"  {op['login']:16} {op['state'] + reason:30} {op['since_s']:7.0f} s  {phone:15} calls {op['calls']}")
    return 0


def cmd_ticket_outcome(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, object] = {"outcome": args.outcome, "note": args.note, "operator": args.operator}
    if args.reason:
        body["reason"] = args.reason
    if args.outcome == "escalated":  # the second level's contact, by the desk's rule (the API checks it)
        body |= {
            "contact_name": args.name,
            "answer_by": args.answer_by,
            "contact_email": args.email,
            "contact_phone": args.phone,
            "caller_id_confirmed": args.caller_id_confirmed,
        }
    result = call_api(settings, "POST", f"/api/tickets/{args.id}/outcome", body)
    due = f", callback due {result['callback_due']}" if result["callback_due"] else ""
    print(f"ticket #{result['ticket']}: level {result['level']}, {result['status']}{due}")
    return 0


def add_queue_commands(sub: Any, add: Any) -> None:
    ops = sub.add_parser("operator", help="operators and their presence").add_subparsers(dest="what", required=True)
    new = add("add", cmd_operator_add, "create an operator (prints the softphone password once)", ops)
    new.add_argument("login")
    new.add_argument("--name")
    new.add_argument("--phone", help="outside number (home phone) reached through the carrier")
    new.add_argument(
        "--skills",
        help="topics, comma separated (citizens,employers,agencies), and languages (lang:en); default every topic",
    )
    new.add_argument("--password", help="softphone password (default: generated)")
    new.add_argument("--no-softphone", action="store_true", help="reached on the outside number only")
    upd = add("update", cmd_operator_update, "change an operator", ops)
    upd.add_argument("login")
    upd.add_argument("--name")
    upd.add_argument("--phone", help="outside number; empty to remove")
    upd.add_argument("--skills")
    upd.add_argument("--active", choices=["yes", "no"])
    upd.add_argument("--new-password", action="store_true")
    add("list", cmd_operator_list, "operators and their stored presence", ops).add_argument(
        "--all", action="store_true"
    )
    for name, presence in (("login", "available"), ("resume", "available"), ("logout", "logged_out")):
        add(name, _presence(presence), f"set presence: {presence}", ops).add_argument("login")
    pause = add("pause", _presence("paused"), "pause with a reason", ops)
    pause.add_argument("login")
    pause.add_argument("--reason", default="pause")

    queue = sub.add_parser("queue", help="the operator queue").add_subparsers(dest="what", required=True)
    add("status", cmd_queue_status, "waiting calls, operators, today's count against the cap", queue)

    ticket = sub.add_parser("ticket", help="act on one ticket").add_subparsers(dest="what", required=True)
    outcome = add("outcome", cmd_ticket_outcome, "the operator's outcome: resolved or escalated", ticket)
    outcome.add_argument("id", type=int)
    outcome.add_argument("outcome", choices=["resolved", "escalated"])
    outcome.add_argument("--note")
    outcome.add_argument("--operator", help="login of the operator filing it")
    outcome.add_argument(
        "--reason", help="why the citizen called: a key of reasons.options (required when they are set)"
    )
    outcome.add_argument("--name", help="escalated: the citizen's name and surname (required)")
    outcome.add_argument("--answer-by", choices=["email", "phone"], help="escalated: how the second level answers")
    outcome.add_argument("--email", help="escalated: the citizen's e-mail address")
    outcome.add_argument("--phone", help="escalated: the number to call back")
    outcome.add_argument(
        "--caller-id-confirmed", action="store_true", help="escalated: the citizen confirmed the number they call from"
    )
