"""Check 32 broken on purpose: a review saved but not stored, stored with other marks, a score
that is not its marks' weighted mean, a review of a call without consent; the driver's marks
read from the review form as the page offers it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ivr.lab.soak.action_journal import ActionRecord, ActionResult
from ivr.lab.soak.checks_reviews import check_reviews
from ivr.lab.soak.driver_web import REVIEW_MARK
from ivr.lab.soak.evidence import SoakEvidence
from ivr.lab.soak.store_view import StoreView
from ivr.schema.reviews import QualityReview
from ivr.schema.tickets import Recording, Ticket

AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
SCORES = [{"key": "a", "label": "A", "weight": 1.0, "score": 5}, {"key": "b", "label": "B", "weight": 3.0, "score": 3}]


def world(consent: str = "accepted", score: float = 62.5) -> StoreView:
    view = StoreView()
    view.tickets[1] = Ticket(id=1, channel="phone", consent=consent)
    view.recordings[7] = Recording(id=7, ticket_id=1, kind="call", path="/x.wav", sha256="", bytes=1, duration_s=1.0)
    view.reviews = [QualityReview(id=1, recording_id=7, ticket_id=1, reviewer="sara", scores=SCORES, score=score,
                                  comment="soak 7", reviewed_at=AT)]  # fmt: skip
    return view


def evidence(**marks: int) -> SoakEvidence:
    saved = ActionRecord(kind="review", sent_at=AT, done_at=AT, result=ActionResult.DONE, status=303, user="sara",
                         ticket=1, object_id="7", params=dict(marks))  # fmt: skip
    return SoakEvidence(journal=[], db_url="", voicemail_dir=Path("."), recordings_dir=Path("."), daily_cap=400,
                        ended_at=AT, actions=[saved])  # fmt: skip


def details(view: StoreView, ev: SoakEvidence) -> list[str]:
    return [v.detail for v in check_reviews(ev, view).violations]


def test_a_review_stored_as_saved_passes_and_each_break_is_named() -> None:
    assert details(world(), evidence(c_a=5, c_b=3)) == []
    assert details(world(), evidence(c_a=5, c_b=4)) == [
        "review of recording 7: posted {'c_a': 5, 'c_b': 4}, stored {'c_a': 5, 'c_b': 3}"
    ]
    empty = world()
    empty.reviews = []
    assert details(empty, evidence(c_a=5, c_b=3)) == ["sara saved a review of recording 7: 0 in the store"]
    assert details(world(score=70.0), evidence(c_a=5, c_b=3)) == ["review 1 scored 70.0; its marks make 62.5"]
    assert details(world(consent="refused"), evidence(c_a=5, c_b=3)) == ["review 1: the call's consent is refused"]


def test_the_driver_reads_one_mark_per_criterion_from_the_form() -> None:
    page = '<input type="radio" name="c_cortesia" value="1"><input type="radio" name="c_cortesia" value="2">' \
           '<input type="radio" name="c_chiusura" value="1"><textarea name="comment">'  # fmt: skip
    assert list(dict.fromkeys(REVIEW_MARK.findall(page))) == ["cortesia", "chiusura"]
