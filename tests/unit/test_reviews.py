"""Quality reviews: the form's marks and score; a supervisor scoring a consented recording in the
console (a mark missing is refused and nothing kept; given again it replaces the reviewer's own),
the results per operator and period with their CSV, each operator reading only their own, the
access log; a recording of a call without consent cannot be reviewed; the purge that removes a
recording removes its reviews (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.privacy.kinds import _recordings_apply
from ivr.recordings.paths import recordings_dir
from ivr.reviews.config import Criterion, ReviewSettings
from ivr.reviews.scoring import ReviewError, marks, score
from ivr.reviews.service import QualityReviews
from ivr.schema.console import AuditEntry
from ivr.schema.reviews import QualityReview
from ivr.schema.tickets import Operator, Recording, Ticket
from ivr.tickets.db import make_engine, upgrade
from ivr.tickets.periods import local_keys
from ivr.tickets.store import SqlTicketStore
from tests.console_support import ConsoleLab, console_lab, write_tone

FORM = [
    Criterion(key="cortesia", label="Cortesia", weight=1),
    Criterion(key="correttezza", label="Correttezza", weight=3),
]
ROME = ZoneInfo("Europe/Rome")
NUMBERS = itertools.count(1)


def test_the_score_is_the_weighted_mean_on_0_to_100() -> None:
    scored = marks(FORM, {"cortesia": "5", "correttezza": 3}, 5)
    assert [s["score"] for s in scored] == [5, 3] and scored[1]["label"] == "Correttezza"
    assert score(scored, 5) == 62.5  # (1 * 1.0 + 3 * 0.5) / 4
    assert score(marks(FORM, {"cortesia": 1, "correttezza": 1}, 5), 5) == 0.0
    with pytest.raises(ReviewError, match="«Correttezza»: manca il voto"):
        marks(FORM, {"cortesia": 4}, 5)
    with pytest.raises(ReviewError, match="«Cortesia»: il voto va da 1 a 5"):
        marks(FORM, {"cortesia": 6, "correttezza": 2}, 5)
    with pytest.raises(ReviewError, match="criteri sconosciuti: simpatia"):
        marks(FORM, {"cortesia": 4, "correttezza": 2, "simpatia": 5}, 5)


def test_a_bad_form_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="criteria: key a given twice"):
        ReviewSettings.model_validate({"criteria": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]})
    with pytest.raises(ValidationError, match=r"criteria\.0\.weight"):
        ReviewSettings.model_validate({"criteria": [{"key": "a", "label": "A", "weight": 0}]})
    assert [c.key for c in ReviewSettings().criteria][:2] == ["accoglienza", "ascolto"]


async def recording(lab: ConsoleLab, operator: str, *, consent: str = "accepted") -> int:
    ticket_id = await lab.call(f"33388800{next(NUMBERS):02d}", operator=operator)
    await lab.deps.store.update(ticket_id, consent=consent)
    wav = recordings_dir(lab.deps.settings) / f"call-{ticket_id}.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    write_tone(wav)

    def add(session: Session) -> int:
        row = Recording(ticket_id=ticket_id, kind="call", path=str(wav), sha256="0" * 64, bytes=wav.stat().st_size,
                        duration_s=1.0, created_at=lab.clock.now())  # fmt: skip
        session.add(row)
        session.flush()
        return row.id

    return await lab.deps.store.run_write(add)


async def post(client: Any, lab: ConsoleLab, recording_id: int, **fields: str) -> Any:
    token = await lab.csrf(client, f"/console/reviews/{recording_id}")
    return await client.post(f"/console/reviews/{recording_id}", data={"_csrf": token, **fields}, allow_redirects=False)


FULL = {"c_accoglienza": "5", "c_ascolto": "4", "c_correttezza": "3", "c_chiarezza": "4", "c_chiusura": "5"}


async def test_a_supervisor_scores_a_recording_and_each_operator_reads_their_own(tmp_path: Path) -> None:
    async with console_lab(tmp_path) as lab:
        rec = await recording(lab, "anna")
        refused = await recording(lab, "anna", consent="refused")
        sara, ada = await lab.login("sara"), await lab.login("ada")
        listing = await (await sara.get("/console/reviews")).text()
        assert f'data-recording="{rec}"' in listing and f'data-recording="{refused}"' not in listing
        assert 'id="rv-none"' in listing  # no review yet this month
        assert (await sara.get(f"/console/reviews/{refused}")).status == 404

        missing = await post(sara, lab, rec, **{k: v for k, v in FULL.items() if k != "c_chiusura"})
        assert missing.status == 400 and "manca il voto" in await missing.text()
        response = await post(sara, lab, rec, **FULL, comment="Chiara e cortese.")
        assert response.status == 303 and response.headers["Location"] == "/console/reviews?msg=review_saved"
        again = await post(sara, lab, rec, **{**FULL, "c_correttezza": "5"}, comment="Rivista.")
        assert again.status == 303
        assert (await post(ada, lab, rec, **{k: "1" for k in FULL})).status == 303

        reviews = await lab.deps.store.run_read(lambda s: list(s.scalars(select(QualityReview))))
        assert sorted((r.reviewer, r.score, r.comment) for r in reviews) == [
            ("ada", 0.0, None), ("sara", 90.0, "Rivista.")  # (1*1 + 2*.75 + 3*1 + 2*.75 + 2*1) / 10
        ]  # fmt: skip
        audited = await lab.deps.store.run_read(
            lambda s: list(s.scalars(select(AuditEntry).where(AuditEntry.action == "review_saved")))
        )
        assert [(a.login, a.object_id) for a in audited] == [("sara", str(rec))] * 2 + [("ada", str(rec))]

        page = await (await sara.get("/console/reviews")).text()
        assert 'data-operator="anna"><th scope="row">anna</th><td>2</td><td>45.0</td>' in page
        csv = await (await sara.get("/console/reviews.csv")).text()
        assert csv.splitlines()[1].startswith("anna,2,45.0,3.0,")
        mine = await (await sara.get(f"/console/reviews/{rec}")).text()
        assert 'value="5" required checked' in mine and "Rivista." in mine and "ada," in mine

        anna, bruno = await lab.login("anna"), await lab.login("bruno")
        own = await (await anna.get("/console/desk/reviews")).text()
        assert own.count("data-review=") == 2 and "Rivista." in own and "punteggio 90.0 su 100" in own
        assert 'id="my-reviews-none"' in await (await bruno.get("/console/desk/reviews")).text()
        assert (await anna.get("/console/reviews")).status == 403
        assert (await anna.get(f"/console/reviews/{rec}")).status == 403


async def test_reviews_on_the_store_and_the_purge(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    at = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    with Session(engine) as s, s.begin():
        op = Operator(login="anna", name="Anna", created_at=at)
        s.add(op)
        s.flush()
        ids = []
        for n in range(2):
            t = Ticket(channel="phone", started_at=at, open=False, consent="accepted", operator_id=op.id,
                       **local_keys(at, ROME))  # fmt: skip
            s.add(t)
            s.flush()
            r = Recording(ticket_id=t.id, kind="call", path=f"/x{n}.wav", sha256="a" * 64, bytes=1, duration_s=60.0,
                          created_at=at)  # fmt: skip
            s.add(r)
            s.flush()
            ids.append(r.id)
    store = SqlTicketStore(engine, tz=ROME)
    repo = QualityReviews(store, ReviewSettings(criteria=FORM))
    try:
        await repo.save(ids[0], "sara", {"cortesia": 5, "correttezza": 5}, "Ottima", at)
        await repo.save(ids[1], "sara", {"cortesia": 1, "correttezza": 3}, None, at + timedelta(days=40))
        march = await repo.report(at.date(), at.date() + timedelta(days=30), ROME)
        assert [(r.operator, r.reviews, r.score) for r in march] == [("anna", 1, 100.0)]
        both = await repo.report(at.date(), at.date() + timedelta(days=60), ROME)
        assert both[0].reviews == 2 and both[0].by_criterion == {"Cortesia": 3.0, "Correttezza": 4.0}
        assert [r.recording_id for r in await repo.of_operator("anna")] == [ids[1], ids[0]]
        with pytest.raises(ReviewError, match="nessuna registrazione"):
            await repo.save(999, "sara", {"cortesia": 5, "correttezza": 5}, None, at)
        with Session(engine) as s, s.begin():
            _recordings_apply(s, [ids[0]])
        with Session(engine) as s:
            assert [r.recording_id for r in s.scalars(select(QualityReview))] == [ids[1]]
    finally:
        await store.stop()
        engine.dispose()
