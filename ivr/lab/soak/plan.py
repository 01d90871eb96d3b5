"""A whole soak as data: its calls, its other traffic, its faults and its days, from one seed.

The plan is written beside the run before anything starts, so the run can be replayed from it
and the checker can tell what was meant from what happened.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from ivr.lab.soak.actions import Action, ActionModel, DeskModel, DeskStep, plan_actions, plan_desk
from ivr.lab.soak.days import DEFAULT_START, ServiceDay, service_days
from ivr.lab.soak.faults import Fault, Profile, schedule
from ivr.lab.soak.model import Journey
from ivr.lab.soak.traffic import TrafficModel, plan, summary_counts

DAY_JUMP_GUARD_S = 30.0  # no fault this close to the clock's jump between two service days
# No call is placed in a day's last this many seconds, so the calls of one day have ended when the
# clock jumps to the next (a call across the jump would wait "fifteen hours" in the figures):
# longer than the line's longest wait before voicemail plus a message and the survey.
DAY_QUIET_S = 180.0


class SoakPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int
    profile: Profile
    traffic: TrafficModel
    activity: ActionModel
    desk_model: DeskModel
    operators: list[str] = Field(description="logins of the simulated operators")
    days: list[ServiceDay]
    journeys: list[Journey]
    actions: list[Action]
    desk: list[DeskStep] = Field(description="one per conversation, taken in turn by the operators")
    faults: list[Fault]


def make_plan(
    profile: Profile,
    seed: int,
    traffic: TrafficModel | None = None,
    activity: ActionModel | None = None,
    desk_model: DeskModel | None = None,
) -> SoakPlan:
    traffic = traffic or TrafficModel()
    activity = activity or ActionModel()
    desk_model = desk_model or DeskModel(talk_s=profile.talk_s)
    days = service_days(profile.days, profile.duration_s, DEFAULT_START)
    quiet = DAY_QUIET_S if len(days) > 1 else 0.0
    active = profile.calls_until_s - quiet * (len(days) - 1)
    if active <= 0:
        raise ValueError(f"profile {profile.name}: {len(days)} days leave no time for calls after their quiet ends")
    journeys = plan(traffic, seed, active, profile.calls_per_min * profile.calls_until_s / active,
                    at_least=profile.min_calls)  # fmt: skip
    journeys = [j.model_copy(update={"at_s": _past_quiet_ends(j.at_s, days, quiet)}) for j in journeys]
    operators = [f"soak{n + 1:02d}" for n in range(profile.operators)]
    topics = sorted(set(traffic.menu.values()))
    jumps = [(d.start_s - DAY_JUMP_GUARD_S, d.start_s + DAY_JUMP_GUARD_S) for d in days[1:]]
    faults = schedule(
        seed,
        profile.duration_s,
        profile.faults,
        count=profile.fault_count,
        min_gap_s=profile.fault_gap_s,
        warmup_s=profile.warmup_s,
        drain_s=profile.drain_s,
        avoid=jumps,
    )
    return SoakPlan(
        seed=seed,
        profile=profile,
        traffic=traffic,
        activity=activity,
        desk_model=desk_model,
        operators=operators,
        days=days,
        journeys=journeys,
        actions=plan_actions(activity, seed, profile.calls_until_s, days, operators, topics, faults),
        desk=plan_desk(desk_model, seed, len(journeys)),
        faults=faults,
    )


def _past_quiet_ends(at_s: float, days: list[ServiceDay], quiet_s: float) -> float:
    """A moment of calling time (the soak's time without the quiet ends of days) put back on the
    soak's own time: every day but the last loses its last `quiet_s` to calls."""
    for day in days[:-1]:
        if at_s < day.end_s - quiet_s:
            return at_s
        at_s += quiet_s
    return at_s


def summary(p: SoakPlan) -> str:
    """What the plan holds, for people: calls per goal, topic and language, faults, days."""
    prof = p.profile
    lines = [
        f"soak plan '{prof.name}', seed {p.seed}: {prof.duration_s:.0f} s, {len(p.journeys)} calls "
        f"({prof.calls_per_min:g}/min until {prof.calls_until_s:.0f} s), {len(p.operators)} operators",
    ]
    counts = summary_counts(p.journeys)
    for what in ("goal", "topic", "language"):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts[what].items()))
        lines.append(f"  calls per {what}: {parts}")
    withheld = sum(1 for j in p.journeys if not j.caller)
    lines.append(f"  withheld numbers: {withheld}")
    actions = Counter(str(a.kind) for a in p.actions)
    lines.append("  other traffic: " + ", ".join(f"{k} {v}" for k, v in sorted(actions.items())))
    lines.append(f"faults ({len(p.faults)}):")
    lines += [f"  {f.at_s:8.0f} s  {f.kind}  for {f.duration_s:.0f} s" for f in p.faults]
    lines.append(f"service days ({len(p.days)}):")
    for d in p.days:
        calls = sum(1 for j in p.journeys if d.contains(j.at_s))
        lines.append(
            f"  day {d.index}: {d.date.isoformat()} ({d.date.strftime('%a')}) from {d.local_start.strftime('%H:%M')}"
            f", {d.start_s:.0f}-{d.end_s:.0f} s, {calls} calls{', campaign' if d.campaign else ''}"
        )
    return "\n".join(lines)
