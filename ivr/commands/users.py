"""`ivr user ...`: console accounts, so the first administrator can be created from a shell."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ivr.clitools import now, with_store
from ivr.console.accounts import AccountError, new_password
from ivr.errors import SetupError
from ivr.schema.console import ROLES
from ivr.settings import Settings

if TYPE_CHECKING:
    from ivr.console.accounts import Accounts

T = TypeVar("T")


def _with_accounts(settings: Settings, fn: Callable[[Accounts], Awaitable[T]]) -> T:
    """Run `fn` on the accounts repository, on the ticket store as the console uses it."""
    from ivr.console.accounts import Accounts

    try:
        return with_store(settings, lambda store: fn(Accounts(store)))
    except AccountError as exc:
        raise SetupError(str(exc)) from None


def _read_password(from_stdin: bool) -> str | None:
    """From standard input (one line) with --password-stdin; None means: generate one."""
    if not from_stdin:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise SetupError("no password on standard input")
    return line


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    given = _read_password(args.password_stdin)
    password = given or new_password()
    at = now(settings)
    user = _with_accounts(
        settings,
        lambda accounts: accounts.add(
            args.login.lower(), args.role, password, at, name=args.name, operator=args.operator
        ),
    )
    linked = f", operator {user.operator_login}" if user.operator_login else ""
    print(f"user {user.login} created: {user.role}{linked}")
    if given is None:
        print(f"password (shown once): {password}")
    return 0


def cmd_user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    if args.password_stdin:
        password = _read_password(True)
    elif sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            raise SetupError("the two passwords differ")
    else:
        password = None
    generated = password is None
    chosen = password or new_password()
    _with_accounts(settings, lambda accounts: accounts.set_password(args.login.lower(), chosen))
    print(f"password of {args.login} changed; every session of the user is closed")
    if generated:
        print(f"password (shown once): {chosen}")
    return 0


def cmd_user_list(args: argparse.Namespace, settings: Settings) -> int:
    users = _with_accounts(settings, lambda accounts: accounts.all())
    tz = settings.service.tz
    for u in users:
        last = f"{u.last_login_at.astimezone(tz):%Y-%m-%d %H:%M}" if u.last_login_at else "never"
        state = "active" if u.active else "disabled"
        print(f"{u.login:24} {u.role:14} {u.operator_login or '-':16} {state:9} last login {last}  {u.name}")
    if not users:
        print("no users (create the first administrator: ivr user add LOGIN --role administrator)")
    return 0


def cmd_user_disable(args: argparse.Namespace, settings: Settings) -> int:
    _with_accounts(settings, lambda accounts: accounts.set_active(args.login.lower(), False))
    print(f"user {args.login} disabled; their sessions are closed")
    return 0


def add_user_commands(sub: Any, add: Callable[..., argparse.ArgumentParser]) -> None:
    users = sub.add_parser("user", help="web console accounts").add_subparsers(dest="what", required=True)
    new = add("add", cmd_user_add, "create a console user; prints a generated password once", users)
    new.add_argument("login")
    new.add_argument("--role", required=True, choices=ROLES)
    new.add_argument("--name", help="full name shown in the console")
    new.add_argument("--operator", help="operator login this user works as (required for --role operator)")
    new.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = add("passwd", cmd_user_passwd, "set a user's password (asked, from stdin, or generated)", users)
    passwd.add_argument("login")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add("list", cmd_user_list, "console users with role and last login", users)
    disable = add("disable", cmd_user_disable, "disable a user and end their sessions", users)
    disable.add_argument("login")
