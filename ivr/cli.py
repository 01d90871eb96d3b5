"""`ivr ...`: the commands operators and administrators run.

Expected failures (a bad config, Asterisk that will not start, a missing tool) print one clear
message and exit non-zero; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ivr.configfile import ConfigError
from ivr.errors import SetupError, UsageError
from ivr.filemodes import private_umask, secure_data
from ivr.logsetup import setup_logging
from ivr.ops.live import tell_engine
from ivr.settings import Settings, load_settings
from ivr.version import version

log = logging.getLogger("ivr")

Handler = Callable[[argparse.Namespace, Settings], int]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


# --- commands ------------------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.assembly import Assembly

    parts = Assembly(settings)
    prompts = parts.prompts
    problems = prompts.check()
    for code, other in parts.language_prompts.items():
        problems += [f"{code}: {problem}" for problem in other.check()]
        if "language_offer" not in other.names():
            problems.append(f"{code}: prompt 'language_offer' is missing (\"For English, press 9\")")
    if problems:
        raise ConfigError(problems)
    flow = parts.flow
    print(
        f"configuration OK: profile {settings.profile}, flow {flow.name!r} ({len(flow.nodes)} nodes), "
        f"{len(prompts.names())} prompts"
    )
    return 0


def cmd_config_show(args: argparse.Namespace, settings: Settings) -> int:
    data = settings.model_dump(mode="json")  # SecretStr dumps as '**********'
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def cmd_config_reference(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.configref import markdown

    print(markdown(Settings))
    return 0


def cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    """Everything a fresh machine needs before `ivr run`: secrets, Asterisk, schema, prompts."""
    from ivr.asterisk.managed import ensure_secrets
    from ivr.commands.kb import offer_samples

    secure_data(settings)
    if ensure_secrets(settings):
        print(f"generated ARI/AMI passwords into {settings.secrets_file}")
        settings = _settings(args)
    cmd_db_upgrade(args, settings)
    offer_samples(settings)
    cmd_prompts_build(args, settings)
    if settings.asterisk.managed.enabled:
        from ivr.asterisk.certs import ensure_sip_certificate, sip_certificate

        if ensure_sip_certificate(settings):
            cert, _key = sip_certificate(settings)
            print(f"generated a self-signed SIP TLS certificate: {cert} (or give asterisk.sip.tls_cert)")
        cmd_asterisk_build(args, settings)
    return 0


def _config_diff(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.commands.asterisk import cmd_config_diff

    return cmd_config_diff(args, settings)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.tickets.db import current_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database schema at revision {current_revision(engine)} ({engine.url.get_backend_name()})")
    engine.dispose()
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.tickets.db import current_revision, head_revision, make_engine

    engine = make_engine(settings.database_url)
    current, head = current_revision(engine), head_revision()
    print(f"current {current}, latest {head}{'' if current == head else ' - run: ivr db upgrade'}")
    return 0 if current == head else 1


def cmd_prompts_build(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.assembly import Assembly
    from ivr.asterisk.managed import sounds_dirs

    parts = Assembly(settings)
    prompts = parts.prompts
    built = prompts.build()
    _inner, local = sounds_dirs(settings)
    installed = prompts.install(local)
    rebuilt = [b.name for b in built if b.rebuilt]
    print(f"prompts: {len(built)} ready ({len(rebuilt)} rebuilt, {installed} installed into {local})")
    for code, other in parts.language_prompts.items():
        built = other.build()
        installed = other.install(local / code)
        rebuilt = [b.name for b in built if b.rebuilt]
        where = local / code
        print(f"prompts ({code}): {len(built)} ready ({len(rebuilt)} rebuilt, {installed} installed into {where})")
    return 0


def cmd_prompts_list(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.assembly import Assembly

    prompts = Assembly(settings).prompts
    for name in sorted(prompts.names()):
        print(f"{name:24} {prompts.text(name)}")
    return 0


def cmd_asterisk_build(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.asterisk.managed import asterisk_root

    root = asterisk_root(settings)
    if not root.ready:
        print(f"building the Asterisk root in {root.path} (once; about a minute)...", flush=True)
    root.ensure()
    print(f"Asterisk root ready: {root.path}")
    return 0


def cmd_asterisk_up(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.asterisk.managed import engine_context, engine_instance, engine_ports, ensure_secrets
    from ivr.commands.asterisk import bring_running_up_to_date

    _require_managed(settings)
    if ensure_secrets(settings):
        settings = _settings(args)
    cmd_asterisk_build(args, settings)
    instance = engine_instance(settings)
    context = engine_context(settings)
    if instance.running() and bring_running_up_to_date(instance, context):
        return 0
    instance.render(context)
    cmd_prompts_build(args, settings)
    instance.start(engine_ports(settings), daemon=True)
    a = settings.asterisk
    print(
        f"asterisk-{instance.name} up (pid {instance.pid()}): SIP {a.sip.bind}:{a.sip.port}"
        f"{f' (TLS {a.sip.tls_port})' if a.sip.tls_port is not None else ''}, "
        f"ARI http://{a.host}:{a.ari.port}, AMI {a.host}:{a.ami.port}"
    )
    return 0


def cmd_asterisk_down(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.asterisk.managed import engine_instance

    _require_managed(settings)
    instance = engine_instance(settings)
    if not instance.running():
        print(f"asterisk-{instance.name} is not running")
        return 0
    instance.stop()
    print(f"asterisk-{instance.name} stopped")
    return 0


def cmd_asterisk_status(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.asterisk.managed import engine_instance

    _require_managed(settings)
    instance = engine_instance(settings)
    pid = instance.pid()
    print(f"asterisk-{instance.name}: {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 0 if pid else 3


def cmd_asterisk_cli(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.asterisk.managed import engine_instance

    _require_managed(settings)
    print(engine_instance(settings).cli(" ".join(args.words)), end="")
    return 0


def _require_managed(settings: Settings) -> None:
    if not settings.asterisk.managed.enabled:
        raise UsageError("asterisk.managed.enabled is false: this engine uses an Asterisk it does not run")


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.app import build_engine

    secure_data(settings)
    if settings.asterisk.managed.enabled and not args.no_asterisk:
        cmd_asterisk_up(args, settings)
        settings = _settings(args)
    else:
        from ivr.commands.asterisk import warn_of_older_configuration

        warn_of_older_configuration(settings)
    from ivr.command_table import install as install_commands
    from ivr.ha.runner import run_line
    from ivr.ops.memory import limit_arenas

    limit_arenas()  # before the engine's threads start
    return run_line(settings, build_engine, standby=args.standby, install_commands=install_commands)


def cmd_tickets_list(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.tickets.db import make_engine
    from ivr.tickets.store import SqlTicketStore

    async def go() -> None:
        store = SqlTicketStore(make_engine(settings.database_url))
        try:
            for t in await store.recent(args.limit):
                duration = f"{t.duration_s:6.1f}s" if t.duration_s is not None else "   open"
                print(
                    f"#{t.id:<6} {t.started_at:%Y-%m-%d %H:%M:%S}Z {duration} {t.caller_number or '-':>14} "
                    f"{t.outcome or 'open':14} {t.end_reason or ''} [{t.last_state or ''}]"
                )
        finally:
            await store.stop()

    asyncio.run(go())
    return 0


def cmd_tickets_show(args: argparse.Namespace, settings: Settings) -> int:
    from ivr.tickets.db import make_engine
    from ivr.tickets.store import SqlTicketStore

    async def go() -> int:
        store = SqlTicketStore(make_engine(settings.database_url))
        try:
            ticket = await store.get(args.id)
        finally:
            await store.stop()
        if ticket is None:
            print(f"no ticket #{args.id}", file=sys.stderr)
            return 1
        for key in (
            "id",
            "channel",
            "caller_number",
            "caller_name",
            "did",
            "started_at",
            "answered_at",
            "ended_at",
            "outcome",
            "end_reason",
            "last_state",
            "destination",
        ):
            print(f"{key:14} {getattr(ticket, key)}")
        for event in ticket.events:
            print(
                f"  {event.at:%H:%M:%S.%f}"[:-3] + f" {event.kind} {json.dumps(event.detail) if event.detail else ''}"
            )
        return 0

    return asyncio.run(go())


# --- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description="NUL call-centre engine (800.000.039)")
    parser.add_argument("-c", "--config", help="config file (default: $IVR_CONFIG or config/nul.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"ivr {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help_text: str, parent: Any = sub) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    add("setup", cmd_setup, "prepare this machine: secrets, database, prompts, Asterisk root")
    run = add("run", cmd_run, "run the engine (starts the managed Asterisk first)")
    run.add_argument("--no-asterisk", action="store_true", help="do not start the managed Asterisk")
    run.add_argument(
        "--standby", action="store_true", help="if another engine is active, wait and take over when it stops"
    )

    config = sub.add_parser("config", help="check or show the configuration").add_subparsers(dest="what", required=True)
    add("check", cmd_config_check, "validate config, flow and prompts", config)
    add("show", cmd_config_show, "print the effective configuration (secrets masked)", config)
    add(
        "diff",
        _config_diff,
        "what the managed Asterisk runs with against the settings, and how each change applies",
        config,
    )
    add("reference", cmd_config_reference, "every setting with its type and default (markdown)", config)

    db = sub.add_parser("db", help="ticket store schema").add_subparsers(dest="what", required=True)
    add("upgrade", cmd_db_upgrade, "apply migrations up to the latest", db)
    add("current", cmd_db_current, "show the schema revision", db)

    prompts = sub.add_parser("prompts", help="Italian prompts").add_subparsers(dest="what", required=True)
    add("build", cmd_prompts_build, "synthesise/convert prompts and install them for Asterisk", prompts)
    add("list", cmd_prompts_list, "list prompt names and texts", prompts)

    ast = sub.add_parser("asterisk", help="the managed local Asterisk").add_subparsers(dest="what", required=True)
    add("build", cmd_asterisk_build, "build the cached Asterisk root (Debian sid chroot)", ast)
    add("up", cmd_asterisk_up, "render the config and start Asterisk", ast)
    add("down", cmd_asterisk_down, "stop Asterisk", ast)
    add("status", cmd_asterisk_status, "is it running", ast)
    cli = add("cli", cmd_asterisk_cli, "run an Asterisk CLI command", ast)
    cli.add_argument("words", nargs="+")

    tickets = sub.add_parser("tickets", help="the ticket store").add_subparsers(dest="what", required=True)
    lst = add("list", cmd_tickets_list, "most recent tickets", tickets)
    lst.add_argument("-n", "--limit", type=int, default=20)
    show = add("show", cmd_tickets_show, "one ticket with its timeline", tickets)
    show.add_argument("id", type=int)

    from ivr.commands.health import add_health_commands
    from ivr.commands.hours import add_hours_commands
    from ivr.commands.kb import add_kb_commands
    from ivr.commands.privacy import add_privacy_commands
    from ivr.commands.queue import add_queue_commands
    from ivr.commands.referrals import add_referral_commands
    from ivr.commands.requests import add_request_commands
    from ivr.commands.stats import add_stats_commands
    from ivr.commands.users import add_user_commands
    from ivr.commands.voicemail import add_voicemail_commands
    from ivr.lab.cli import add_lab_commands
    from ivr.ops.cli import add_ops_commands

    add_hours_commands(sub, add)
    add_queue_commands(sub, add)
    add_voicemail_commands(sub, add)
    add_request_commands(sub, add)
    add_privacy_commands(sub, add)
    add_referral_commands(sub, add)
    add_stats_commands(sub, add)
    add_lab_commands(sub, add)
    add_user_commands(sub, add)
    add_kb_commands(sub, add)
    add_health_commands(sub, add)
    add_ops_commands(sub, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Before any file is made: logs, databases, recordings are the engine's only. Put back after,
    # for callers that run commands inside a longer-lived process.
    previous = private_umask()
    try:
        return _main(argv)
    finally:
        os.umask(previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else os.environ.get("IVR_LOG_LEVEL", "INFO"))
    try:
        settings = _settings(args)
        setup_logging("DEBUG" if args.verbose else settings.logging.level, settings)
        handler: Handler = args.handler
        result = handler(args, settings)
        if result == 0:  # a change the running engine must learn now (ivr operator add)
            tell_engine(settings, args.command, getattr(args, "what", None))
        return result
    except ConfigError as exc:
        print("configuration error:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _expected(exc):
            print(f"ivr: {_said(exc, args)}", file=sys.stderr)
            return 1
        raise


def _said(exc: Exception, args: argparse.Namespace) -> str:
    """What failed, never an empty line: an error without text (a bare timeout printed `ivr: `
    and nothing else) is named by its kind and the command, with the way to see more."""
    text = str(exc).strip()
    if text:
        return text
    command = " ".join(str(part) for part in (args.command, getattr(args, "what", None)) if part)
    why = "a time limit ran out" if isinstance(exc, TimeoutError) else "it gave no details"
    return f"`ivr {command}` failed: {type(exc).__name__} ({why}); run it again with -v to see where"


def _expected(exc: Exception) -> bool:
    from ivr.acd.operators import OperatorError
    from ivr.asterisk.instance import AsteriskStartError
    from ivr.asterisk.root import RootBuildError
    from ivr.knowledge.articles import ArticleError
    from ivr.prompts.library import PromptError
    from ivr.telephony.errors import TelephonyError
    from ivr.voicemail.messages import MessageError
    from ivr.webrequests.service import RequestError

    expected = (
        RequestError,
        SetupError,
        AsteriskStartError,
        RootBuildError,
        PromptError,
        TelephonyError,
        OSError,
        MessageError,
        OperatorError,
        ArticleError,
    )
    return isinstance(exc, expected)


if __name__ == "__main__":
    sys.exit(main())
