"""`ivr referrals ...`: import the directory from CSV, list it, search it as the desk does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ivr.clitools import now as engine_now
from ivr.clitools import with_store
from ivr.errors import UsageError
from ivr.referrals import csvfile
from ivr.referrals.repository import Imported, OfficeView, Referrals
from ivr.settings import Settings


def _line(o: OfficeView) -> str:
    state = "" if o.active else " [inactive]"
    where = " ".join(p for p in (o.region or "", o.province or "") if p)
    contact = " · ".join(p for p in (o.phone, o.email) if p)
    why = f"  <- {o.why}" if o.why else ""
    return f"{o.code:14} {o.kind:18} {o.name[:48]:48} {where:28} {contact}{state}{why}"


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        rows = csvfile.parse(data)
    except csvfile.CsvRejected as exc:
        print(f"{path}: nothing imported, {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    at = engine_now(settings)
    done: Imported = with_store(settings, lambda store: Referrals(store).import_rows(rows, at))
    print(f"{path}: {len(rows)} offices imported ({done.added} new, {done.updated} updated)")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    found: list[OfficeView] = with_store(
        settings, lambda store: Referrals(store).offices(region=args.region, province=args.province)
    )
    for office in found:
        print(_line(office))
    if not found:
        print("no offices (import a CSV with `ivr referrals import FILE.csv`)")
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    query = " ".join(args.query)
    found: list[OfficeView] = with_store(settings, lambda store: Referrals(store).search(query, limit=args.limit))
    for office in found:
        print(_line(office))
        if args.details:
            for label, value in (("address", office.address), ("hours", office.hours), ("web", office.web)):
                if value:
                    print(f"{'':14} {label}: {value}")
    if not found:
        print(f"no active office for {query!r} (a comune, a province's name or its sigla)")
    return 0


def add_referral_commands(sub: Any, add: Any) -> None:
    ref = sub.add_parser("referrals", help="the directory of offices the line refers citizens to")
    more = ref.add_subparsers(dest="what", required=True)
    imp = add("import", cmd_import, "import offices from a CSV file (upsert by code; all rows or none)", more)
    imp.add_argument("file", help="UTF-8 CSV, `;` or `,` separated (see config/referrals/README.md)")
    lst = add("list", cmd_list, "every office of the directory", more)
    lst.add_argument("--region", help="only this region (as written in the file)")
    lst.add_argument("--province", help="only this province (sigla)")
    search = add("search", cmd_search, "active offices for a comune or a province (name or sigla)", more)
    search.add_argument("query", nargs="+", help='e.g. "Reggio nell\'Emilia", reggio emilia, RE, Torino')
    search.add_argument("-n", "--limit", type=int, default=30)
    search.add_argument("--details", action="store_true", help="also the address, hours and web site")
