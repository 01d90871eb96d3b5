"""`ivr lab soak plan`: print and write the plan a soak would run, without running it.

The traffic is drawn on the line's own menu, consent keys, survey and languages (the configured
call flow and `prompts.languages`), so the plan is the one the soak of this configuration runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ivr.callflows.model import load_flow
from ivr.errors import SetupError
from ivr.lab.soak.faults import PROFILES, TAILORED, tailored
from ivr.lab.soak.plan import SoakPlan, make_plan, summary
from ivr.lab.soak.traffic import TrafficModel
from ivr.settings import Settings


def line_plan(settings: Settings, profile: str, seed: int, **changes: float | int | None) -> SoakPlan:
    if not settings.callflow.exists():
        raise SetupError(f"{settings.callflow}: the main call flow is missing (callflow)")
    flow = load_flow(settings.callflow)
    keys = {code: lang.key for code, lang in settings.prompts.languages.items()}
    traffic = TrafficModel.for_line(flow, keys, settings.service.language)
    try:
        return make_plan(tailored(PROFILES[profile], **changes), seed, traffic)
    except ValueError as exc:  # a tailored profile that cannot be planned: say why, no traceback
        raise SetupError(f"soak profile {profile}: {exc}") from None


def cmd_soak_plan(args: argparse.Namespace, settings: Settings) -> int:
    plan = line_plan(settings, args.profile, args.seed, **profile_changes(args))
    print(summary(plan))
    if args.out:
        out = Path(args.out)
        out.write_text(plan.model_dump_json(indent=1) + "\n", encoding="utf-8")
        print(f"plan written to {out}")
    return 0


def add_soak_commands(lab: Any, add: Any) -> Any:
    """`ivr lab soak ...`; returns the subparsers so the soak's other commands join them."""
    soak = lab.add_parser("soak", help="the line for hours, with faults, every call accounted for")
    commands = soak.add_subparsers(dest="soak", required=True)
    plan = add("plan", cmd_soak_plan, "print the calls, other traffic, faults and days a soak would run", commands)
    plan.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="short",
        help="short (the suite's 3 min), medium (25 min, every fault kind once) or full (2 h)",
    )
    plan.add_argument("--seed", type=int, default=1, help="the same seed gives the same plan")
    plan.add_argument("--out", help="write the whole plan here as JSON")
    add_profile_options(plan)
    return commands


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    """The profile's figures one may change for one run (`bench/soak.py` takes the same)."""
    parser.add_argument("--duration-s", type=float, help="how long the soak runs (default: the profile's)")
    parser.add_argument("--calls-per-min", type=float, help="the call rate")
    parser.add_argument("--faults", type=int, dest="fault_count", help="how many faults, of the profile's kinds")
    parser.add_argument("--days", type=int, help="service days played")
    parser.add_argument("--operators", type=int, help="simulated operators")


def profile_changes(args: argparse.Namespace) -> dict[str, float | int | None]:
    return {name: getattr(args, name, None) for name in TAILORED}
