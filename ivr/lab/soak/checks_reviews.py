"""Check 32: quality reviews. Each review the driver saved is in the store once, with the marks it
posted and its comment; every review in the store is of a call recording whose caller consented,
and its score is the weighted mean of its own marks (counted here, on 0-100, from the marks and
weights the row keeps: 1 is 0, the top mark 100)."""

from __future__ import annotations

from ivr.lab.soak.checks_actions import NO_JOURNAL, _done
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.lab.soak.verdict import CheckResult

REVIEW = "review"  # the driver's record of a review (ivr.lab.soak.driver_web.review_recording)
SCALE = 5  # the soak line's form: the default, marks 1 to 5


def weighted(scores: list[dict[str, object]], scale: int = SCALE) -> float:
    total = sum(float(str(s["weight"])) for s in scores)
    points = sum(float(str(s["weight"])) * (int(str(s["score"])) - 1) / (scale - 1) for s in scores)
    return 100 * points / total if total else -1.0


def check_reviews(ev: SoakEvidence, view: StoreView) -> CheckResult:
    r = CheckResult("reviews", "each review saved is stored once as given; only of consented calls, scored right")
    for q in view.reviews:
        rec = view.recordings.get(q.recording_id)
        ticket = view.tickets.get(q.ticket_id)
        if rec is None or rec.kind != "call" or ticket is None or rec.ticket_id != ticket.id:
            r.fail(f"review {q.id} is of recording {q.recording_id}, which is no call recording of its ticket",
                   [q.ticket_id])  # fmt: skip
        elif ticket.consent != "accepted":
            r.fail(f"review {q.id}: the call's consent is {ticket.consent}", [ticket.id])
        if abs(weighted(list(q.scores)) - q.score) > 0.06:
            r.fail(f"review {q.id} scored {q.score}; its marks make {weighted(list(q.scores)):.1f}", [q.ticket_id])
    if ev.actions is None:
        r.notes.append(NO_JOURNAL)
        return r
    saved = _done(ev, REVIEW)
    for a in saved:
        rows = [q for q in view.reviews if str(q.recording_id) == a.object_id and q.reviewer == a.user]
        if len(rows) != 1:
            r.fail(f"{a.user} saved a review of recording {a.object_id}: {len(rows)} in the store",
                   [a.ticket] if a.ticket else [])  # fmt: skip
            continue
        stored = {f"c_{s['key']}": int(str(s["score"])) for s in rows[0].scores}
        if stored != dict(a.params) or rows[0].comment != f"soak {a.object_id}":
            r.fail(f"review of recording {a.object_id}: posted {dict(a.params)}, stored {stored}",
                   [rows[0].ticket_id])  # fmt: skip
    r.notes.append(f"{len(saved)} reviews saved by the driver, {len(view.reviews)} in the store")
    return r
