"""The statistics as SQL: every figure is an aggregate computed by the database.

Three statements per report, independent so they run side by side on separate connections: the
tickets (calls, queue, speed, survey take-up, commitments), the voicemails by reason, and the
survey answers by question. Each returns, from one pass over its rows, the figures per period
(and group), per group over the whole range, and in total: the rows are first summed per local
day or period (and group), then each of those few sums is counted at every level (`_levels`).
Averages and rates are divided in SQL from the sums, so a month's average is over its calls,
not an average of daily averages.

Only plain columns and portable aggregates (`count(*) FILTER (WHERE ...)`, SUM, MIN, CASE): the
same statements run on SQLite and PostgreSQL. No time zone is computed here: the local calendar
keys were written with each ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Float,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join, Subquery

from ivr.schema.privacy import SurveyCount
from ivr.schema.tickets import Operator, SurveyAnswer, Ticket, Voicemail
from ivr.tickets.periods import week_of

Period = Literal["day", "week", "month"]
Breakdown = Literal["topic", "operator"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
BREAKDOWNS: tuple[Breakdown, ...] = ("topic", "operator")
PERIOD_COLUMNS = {"day": Ticket.local_day, "week": Ticket.local_week, "month": Ticket.local_month}
CLOSED_STATES = ("outside_hours", "holiday", "closure")
RESPONDED = ("completed", "partial")
PHONE_CALLBACK, WEB_REPLY = "phone_callback", "web_reply"

# Levels of the rows a statement returns.
PERIOD_ROW, GROUP_ROW, TOTAL_ROW = "period", "group", "total"


@dataclass(frozen=True)
class Scope:
    """What a report covers: local days `start`..`end` inclusive, cut into periods, optionally
    per topic or per operator; `now` decides whether an unanswered commitment is late or still
    pending."""

    start: date
    end: date
    period: Period
    by: Breakdown | None
    now: datetime
    service_level_s: float = 60.0

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"the range starts ({self.start}) after it ends ({self.end})")
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")


def period_start(day: date, period: Period) -> date:
    """The first day of the period holding `day` (what the ticket's local_week/local_month say)."""
    if period == "week":
        return week_of(day)
    return day.replace(day=1) if period == "month" else day


def next_period(first: date, period: Period) -> date:
    if period == "day":
        return first + timedelta(days=1)
    if period == "week":
        return first + timedelta(days=7)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count().filter(condition)


def _sum(value: Any) -> ColumnElement[int]:
    """A sum of counts, as an integer on every backend (PostgreSQL sums bigints as numeric)."""
    return cast(func.coalesce(func.sum(value), 0), BigInteger)


def _fsum(value: Any) -> ColumnElement[float]:
    return cast(func.coalesce(func.sum(value), 0.0), Float)


def _ratio(numerator: Any, denominator: Any) -> ColumnElement[float]:
    """numerator / denominator as a fraction; NULL when there is nothing to divide by."""
    return case((denominator > 0, cast(numerator, Float) / denominator), else_=null())


def _group_column(by: Breakdown | None, operator: Any = Ticket.operator_id) -> Any:
    if by == "topic":
        return Ticket.topic
    if by == "operator":
        return operator
    return None


def _in_time() -> ColumnElement[bool]:
    """Answered by the due time (a comparison with NULL is never true: not answered yet)."""
    return Ticket.sla_met_at <= Ticket.callback_due


def _late(now: datetime) -> ColumnElement[bool]:
    """Answered after the due time, or not answered and already past it."""
    return or_(Ticket.sla_met_at > Ticket.callback_due, and_(Ticket.sla_met_at.is_(None), Ticket.callback_due < now))


def _ticket_days(scope: Scope) -> Subquery:
    """Additive counts and sums of the tickets per local day (and group). Conditions are kept
    few and cheap (a bare COUNT(column) where it says the same), as they run once per ticket."""
    answered = Ticket.queue_result == "answered"
    callback, reply = Ticket.sla_kind == PHONE_CALLBACK, Ticket.sla_kind == WEB_REPLY
    in_time, late = _in_time(), _late(scope.now)
    group = _group_column(scope.by)
    columns: list[Any] = [func.min(PERIOD_COLUMNS[scope.period]).label("period")]
    if group is not None:
        columns.append(group.label("grp"))
    columns += [
        func.count().label("tickets"),
        _count(Ticket.channel == "web").label("web_received"),
        _count(Ticket.line_state == "open").label("in_hours"),
        _count(Ticket.line_state.in_(CLOSED_STATES)).label("closed_hours"),
        func.count(Ticket.queued_at).label("admitted"),
        _count(answered).label("answered"),
        _count(Ticket.queue_result == "abandoned").label("abandoned"),
        _count(Ticket.queue_result == "cap").label("cap_hits"),
        _count(Ticket.queue_result == "no_operators").label("no_operators"),
        _count(Ticket.queue_result == "max_wait").label("max_wait"),
        _count(Ticket.queue_result == "caller_choice").label("caller_choice"),
        _count(and_(answered, Ticket.wait_s <= scope.service_level_s)).label("answered_in_sl"),
        func.sum(Ticket.wait_s).filter(answered).label("wait_sum"),
        func.count(Ticket.wait_s).filter(answered).label("waits"),  # AVG's denominator: no NULLs
        func.sum(Ticket.handle_s).label("handle_sum"),
        func.count(Ticket.handle_s).label("handled"),
        func.count(Ticket.survey_status).label("survey_offered"),
        _count(Ticket.survey_status.in_(RESPONDED)).label("survey_responses"),
        _count(callback).label("callbacks"),
        _count(and_(callback, in_time)).label("callbacks_in_time"),
        _count(and_(callback, late)).label("callbacks_late"),
        _count(reply).label("web_due"),
        _count(and_(reply, in_time)).label("web_in_time"),
        _count(and_(reply, late)).label("web_late"),
    ]
    # Grouped in the order of the columns of a covering index (local_day, topic, operator_id, ...),
    # so SQLite can stream the groups from it without sorting the tickets; per operator the topic
    # is a key too, which only splits an operator's day into up to three rows summed later.
    keys: list[Any] = [Ticket.local_day]
    if scope.by is not None:
        keys.append(Ticket.topic)
    if scope.by == "operator":
        keys.append(Ticket.operator_id)
    stmt = select(*columns).where(Ticket.local_day.between(scope.start, scope.end)).group_by(*keys)
    return stmt.subquery("ticket_days")


TICKET_COUNTS = (
    "in_hours", "closed_hours", "admitted", "answered", "abandoned", "cap_hits", "no_operators", "max_wait",
    "caller_choice", "answered_in_sl", "handled", "survey_offered", "survey_responses", "web_received",
    "callbacks", "callbacks_in_time", "callbacks_late", "web_due", "web_in_time", "web_late",
)  # fmt: skip


def _ticket_figures(days: Subquery) -> list[Any]:
    c = days.c
    admitted = _sum(c.admitted)
    callbacks_done = _sum(c.callbacks_in_time) + _sum(c.callbacks_late)
    replies_done = _sum(c.web_in_time) + _sum(c.web_late)
    return [
        (_sum(c.tickets) - _sum(c.web_received)).label("offered"),
        *(_sum(c[name]).label(name) for name in TICKET_COUNTS),
        (_sum(c.callbacks) - callbacks_done).label("callbacks_pending"),
        (_sum(c.web_due) - replies_done).label("web_pending"),
        _ratio(_fsum(c.wait_sum), _sum(c.waits)).label("asa_s"),
        _ratio(_fsum(c.handle_sum), _sum(c.handled)).label("aht_s"),
        _ratio(_sum(c.answered_in_sl), admitted).label("service_level"),
        _ratio(_sum(c.survey_responses), _sum(c.survey_offered)).label("survey_response_rate"),
        _ratio(_sum(c.callbacks_in_time), callbacks_done).label("callbacks_compliance"),
        _ratio(_sum(c.web_in_time), replies_done).label("web_compliance"),
    ]


def _levels(inner: Subquery, by: Breakdown | None, figures: list[Any], keys: tuple[str, ...] = ()) -> Select[Any]:
    """The same figures per period (and group), per group over the range, and in total, in one
    pass over `inner`: each of its rows is counted once at each level (a join with a small table
    of level names), then grouped by what that level keeps. One reference to `inner` lets
    PostgreSQL compute it with parallel workers, which a CTE read three times would not."""
    names = [PERIOD_ROW, TOTAL_ROW] if by is None else [PERIOD_ROW, GROUP_ROW, TOTAL_ROW]
    levels = union_all(*(select(literal_column(f"'{n}'", String).label("level")) for n in names)).subquery("levels")
    level, c = levels.c.level, inner.c
    period = case((level == PERIOD_ROW, c.period), else_=null())
    grp = case((level != TOTAL_ROW, c.grp), else_=null()) if by is not None else null()
    extra = [c[k] for k in keys]
    return (
        select(level.label("level"), period.label("period"), grp.label("grp"), *extra, *figures)
        .select_from(inner)
        .join(levels, true())
        .group_by(level, period, *([grp] if by is not None else []), *extra)
    )


def ticket_figures(scope: Scope) -> Select[Any]:
    days = _ticket_days(scope)
    return _with_logins(_levels(days, scope.by, _ticket_figures(days)), scope.by)


class _ScanLeftFirst(Join):
    """An inner join that SQLite runs with its left side in the outer loop (`CROSS JOIN`, SQLite's
    documented way to fix the order), an ordinary JOIN elsewhere. Without statistics SQLite always
    starts from the tickets' date index and probes the voicemails (or answers) once per ticket:
    right for a few weeks, but over months reading every message once and fetching its ticket by
    key is several times cheaper than a probe for each of a million tickets."""

    inherit_cache = True


# From this many days on, the messages or answers are read first (see _ScanLeftFirst).
LONG_RANGE_DAYS = 92


@compiles(_ScanLeftFirst, "sqlite")
def _cross_join(element: _ScanLeftFirst, compiler: Any, **kw: Any) -> str:
    """SQLAlchemy calls this (registered by `@compiles`) whenever it writes a `_ScanLeftFirst`
    for SQLite: never called by name, yet it is what makes long-range reports fast."""
    text: str = compiler.visit_join(element, **kw)
    left: str = element.left._compiler_dispatch(compiler, asfrom=True)
    if not text.startswith(f"{left} JOIN "):  # not a plain table on the left: keep SQLite's choice
        return text
    return f"{left} CROSS JOIN {text[len(left) + len(' JOIN ') :]}"


def _per_period(scope: Scope, base: Any, key: Any, aggregates: list[Any], group: Any) -> Select[Any]:
    """Rows of `base` (voicemails, survey answers) summed per period of their ticket."""
    period = PERIOD_COLUMNS[scope.period]
    keys = [period, key, *([group] if group is not None else [])]
    columns = [period.label("period"), key, *([group.label("grp")] if group is not None else [])]
    long_range = (scope.end - scope.start).days + 1 >= LONG_RANGE_DAYS
    joined = (_ScanLeftFirst if long_range else Join)(base.__table__, Ticket.__table__, Ticket.id == base.ticket_id)
    return (
        select(*columns, *aggregates)
        .select_from(joined)
        .where(Ticket.local_day.between(scope.start, scope.end))
        .group_by(*keys)
    )


def voicemail_figures(scope: Scope) -> Select[Any]:
    """Messages left, per period (and group) and reason."""
    count = [func.count().label("messages")]
    inner = _per_period(scope, Voicemail, Voicemail.reason.label("reason"), count, _group_column(scope.by))
    rows = inner.subquery("per_period")
    return _with_logins(_levels(rows, scope.by, [_sum(rows.c.messages).label("messages")], ("reason",)), scope.by)


def _period_spans(scope: Scope) -> Subquery:
    """The periods of the range as rows (first, last). Survey answers folded into counts by the
    retention purge keep only their local day; this maps it to its week or month with a plain
    range join, no date arithmetic in SQL. Chunked: SQLite caps a compound SELECT at 500 terms."""
    first = scope.start if scope.period == "day" else period_start(scope.start, scope.period)
    spans: list[Any] = []
    while first <= scope.end:
        after = next_period(first, scope.period)
        last = after - timedelta(days=1)
        spans.append(select(literal(first, Date).label("first"), literal(last, Date).label("last")))
        first = after
    chunks = [union_all(*spans[i : i + 400]).subquery(f"spans{i}") for i in range(0, len(spans), 400)]
    return union_all(*(select(chunk.c.first, chunk.c.last) for chunk in chunks)).subquery("periods")


def _folded_answers(scope: Scope) -> Select[Any]:
    """Answers past their retention, kept as anonymous counts per day, topic, operator, question."""
    c = SurveyCount
    group = {"topic": c.topic, "operator": c.operator_id}.get(scope.by or "")
    if scope.period == "day":
        period: Any = c.local_day
        base = select(period.label("period")).select_from(c)
    else:
        spans = _period_spans(scope)
        period = spans.c.first
        base = select(period.label("period")).join_from(
            c, spans, and_(c.local_day >= spans.c.first, c.local_day <= spans.c.last)
        )
    groups = [] if group is None else [group]
    return (
        base.add_columns(
            c.question.label("question"),
            *(g.label("grp") for g in groups),
            _sum(c.count).label("answers"),
            _sum(c.answer * c.count).label("total"),
            _sum(case((c.answer == 1, c.count), else_=0)).label("ones"),
        )
        .where(c.local_day.between(scope.start, scope.end))
        .group_by(period, c.question, *groups)
    )


def survey_figures(scope: Scope) -> Select[Any]:
    """Answers per question: how many, their average and the share of 1 (yes, for 'solved');
    per operator they go to the operator the answer rated. Answers still kept and those already
    folded into anonymous counts are added together, so purging never changes a statistic."""
    aggregates = [
        func.count().label("answers"),
        func.sum(SurveyAnswer.answer).label("total"),
        _count(SurveyAnswer.answer == 1).label("ones"),
    ]
    group = _group_column(scope.by, SurveyAnswer.operator_id)
    kept = _per_period(scope, SurveyAnswer, SurveyAnswer.question.label("question"), aggregates, group)
    inner = union_all(kept, _folded_answers(scope)).subquery("per_period")
    c = inner.c
    figures = [
        _sum(c.answers).label("answers"),
        _ratio(_sum(c.total), _sum(c.answers)).label("average"),
        _ratio(_sum(c.ones), _sum(c.answers)).label("ones_share"),
    ]
    return _with_logins(_levels(inner, scope.by, figures, ("question",)), scope.by)


def _with_logins(stmt: Select[Any], by: Breakdown | None) -> Select[Any]:
    """Per operator, name the group by the operator's login instead of the internal id."""
    if by != "operator":
        return stmt
    rows = stmt.subquery("figures")
    names = [col for col in rows.c if col.key != "grp"]
    return select(*names, Operator.login.label("grp")).outerjoin_from(rows, Operator, Operator.id == rows.c.grp)
