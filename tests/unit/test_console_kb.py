"""The knowledge base in the console: supervisors write and version articles with a safe
preview; operators read and search; on the desk a popped call lists its topic's articles and
"Risolta con l'articolo N" files a first-level resolution naming the article."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ivr.knowledge.files import import_dir
from ivr.schema.tickets import TicketEvent
from tests.console_support import ConsoleLab, console_lab

DATA = Path(__file__).resolve().parents[1] / "data" / "kb"


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        report = await import_dir(lab.deps.console.knowledge, DATA, by="test", at=lab.clock.now())
        assert not report.errors
        yield lab


async def _id(lab: ConsoleLab, slug: str) -> int:
    article = await lab.deps.console.knowledge.by_slug(slug)
    assert article is not None
    return article.id


async def test_list_marks_review_and_shows_gulpease(lab: ConsoleLab) -> None:
    sara = await lab.login("sara")
    page = await (await sara.get("/console/kb?topic=citizens")).text()
    row = re.search(r'<tr class="kb-article review-overdue" data-article="(\d+)">.*?</tr>', page, re.S)
    assert row is not None and "Lavoro stagionale" in row.group(0) and "da rivedere" in row.group(0)
    assert "Obbligo di assunzione" not in page  # an employers' article
    naspi = re.search(r"NASpI: l&#39;indennità di disoccupazione</a></td>\s*<td>[^<]*</td>\s*<td>(\d+)", page)
    assert naspi is not None and 30 < int(naspi.group(1)) < 100
    found = await (await sara.get("/console/kb?q=iscrivermi")).text()
    assert "Come iscriversi al Centro per l&#39;impiego" in found


async def test_supervisor_writes_versions_and_reads_old_ones(lab: ConsoleLab) -> None:
    sara = await lab.login("sara")
    token = await lab.csrf(sara, "/console/kb/new")
    form = {
        "_csrf": token, "title": "Il bonus trasporti", "slug": "bonus-trasporti", "topic": "citizens",
        "body": "Il bonus aiuta a pagare l'abbonamento.\n\nLo chiedi online.", "author": "Sara",
        "keywords": "bonus, abbonamento", "links": "Ministero | https://www.lavoro.gov.it", "review_on": "2027-01-31",
    }  # fmt: skip
    bad = await sara.post("/console/kb/new", data={**form, "topic": "cucina"}, allow_redirects=False)
    assert bad.status == 400 and "«argomento»" in await bad.text()
    bad = await sara.post("/console/kb/new", data={**form, "links": "x | javascript:alert(1)"}, allow_redirects=False)
    assert bad.status == 400 and "«collegamenti»" in await bad.text()
    created = await sara.post("/console/kb/new", data=form, allow_redirects=False)
    assert created.status == 303
    article_id = int(created.headers["Location"].split("/")[-1].split("?")[0])
    edit = await (await sara.get(f"/console/kb/{article_id}/edit")).text()
    assert 'name="base_version" value="1"' in edit
    second = {
        **form,
        "body": "Il bonus aiuta a pagare l'abbonamento del bus.\n\nLo chiedi online.",
        "base_version": "1",
    }
    assert (await sara.post(f"/console/kb/{article_id}/edit", data=second, allow_redirects=False)).status == 303
    stale = await sara.post(f"/console/kb/{article_id}/edit", data={**second, "body": "altro"}, allow_redirects=False)
    assert stale.status == 400 and "versione 2" in await stale.text()
    history = await (await sara.get(f"/console/kb/{article_id}/history")).text()
    assert f'href="/console/kb/{article_id}/versions/1"' in history and "/versions/2" in history
    old = await (await sara.get(f"/console/kb/{article_id}/versions/1")).text()
    assert "non è la versione in uso" in old and "del bus" not in old
    current = await (await sara.get(f"/console/kb/{article_id}")).text()
    assert "del bus" in current and '<a href="https://www.lavoro.gov.it"' in current
    assert (
        await sara.post(f"/console/kb/{article_id}/archive", data={"_csrf": token}, allow_redirects=False)
    ).status == 303
    assert "Il bonus trasporti" not in await (await sara.get("/console/kb")).text()


async def test_preview_is_safe_and_measures_readability(lab: ConsoleLab) -> None:
    sara = await lab.login("sara")
    token = await lab.csrf(sara, "/console/kb/new")
    body = "<script>alert(1)</script> [clic](javascript:alert(1)) [INPS](https://www.inps.it) **bene**"
    data = await (await sara.post("/console/kb/preview", data={"_csrf": token, "body": body})).json()
    assert "<script>" not in data["html"] and "&lt;script&gt;" in data["html"]
    assert 'href="javascript' not in data["html"] and '<a href="https://www.inps.it">INPS</a>' in data["html"]
    assert "<strong>bene</strong>" in data["html"]
    hard = (
        "L'amministrazione competente provvede all'erogazione dell'indennità previa verifica documentale "
        "dell'insussistenza di condizioni ostative all'accoglimento dell'istanza presentata dall'interessato."
    )
    data = await (await sara.post("/console/kb/preview", data={"_csrf": token, "body": hard})).json()
    assert data["gulpease"] < 60 and data["warn"] is True
    easy = await (
        await sara.post("/console/kb/preview", data={"_csrf": token, "body": "Vai al Centro. Porta il documento."})
    ).json()
    assert easy["warn"] is False and easy["gulpease"] >= 60


async def test_operators_read_and_search_but_do_not_write(lab: ConsoleLab) -> None:
    anna = await lab.login("anna")
    naspi = await _id(lab, "naspi")
    assert (await anna.get(f"/console/kb/{naspi}")).status == 200
    found = await (await anna.get("/console/kb/search.json?q=disoccupati&topic=citizens")).json()
    assert naspi in [a["id"] for a in found["articles"]]
    assert (await anna.get("/console/kb/new")).status == 403
    token = await lab.csrf(anna, "/console/kb")
    refused = await anna.post(f"/console/kb/{naspi}/archive", data={"_csrf": token}, allow_redirects=False)
    assert refused.status == 403


async def test_desk_resolves_a_call_with_an_article(lab: ConsoleLab) -> None:
    ticket_id = await lab.call("3331234567", operator="anna", topic="citizens")
    anna = await lab.login("anna")
    desk = await (await anna.get("/console/desk")).text()
    naspi = await _id(lab, "naspi")
    assert f"Risolta con l'articolo {naspi}</button>" in desk
    seasonal = await _id(lab, "lavoro-stagionale")
    assert re.search(rf'class="kb-item review-overdue" data-article="{seasonal}"', desk)
    assert "Ospitare un tirocinante" not in desk  # another topic
    assert "Bonus per chi cerca lavoro 2023" not in desk  # not valid today
    bruno = await lab.login("bruno")
    token_b = await lab.csrf(bruno, "/console/desk")
    other = await bruno.post(
        f"/console/desk/tickets/{ticket_id}/article", data={"_csrf": token_b, "article": str(naspi)}
    )
    assert other.status == 403
    token = await lab.csrf(anna, "/console/desk")
    done = await anna.post(
        f"/console/desk/tickets/{ticket_id}/article",
        data={"_csrf": token, "article": str(naspi)},
        headers={"Accept": "application/json"},
    )
    assert done.status == 200 and (await done.json())["article"] == naspi
    ticket = await lab.ticket(ticket_id)
    assert ticket is not None
    assert (ticket.level, ticket.status, ticket.kb_article_id, ticket.callback_due) == (1, "resolved", naspi, None)
    kinds = await lab.deps.store.run_read(
        lambda s: [(e.kind, e.detail) for e in s.query(TicketEvent).filter_by(ticket_id=ticket_id)]
    )
    assert ("kb_answer", {"article": naspi, "version": 1, "title": "NASpI: l'indennità di disoccupazione",
                          "operator_id": ticket.operator_id}) in kinds  # fmt: skip
    page = await (await lab.login("sara")).get(f"/console/tickets/{ticket_id}")
    assert "NASpI" in await page.text()


async def test_the_outcome_form_still_works_beside_the_articles(lab: ConsoleLab) -> None:
    ticket_id = await lab.call("3337654321", operator="anna", topic="citizens")
    anna = await lab.login("anna")
    token = await lab.csrf(anna, "/console/desk")
    data = {"_csrf": token, "outcome": "escalated", "note": "x", "contact_name": "Anna Bianchi"}
    data |= {"answer_by": "email", "contact_email": "anna.bianchi@example.org"}
    filed = await anna.post(f"/console/desk/tickets/{ticket_id}/outcome", data=data, allow_redirects=False)
    assert filed.status == 303
    ticket = await lab.ticket(ticket_id)
    assert ticket is not None and ticket.level == 2 and ticket.kb_article_id is None


async def test_statistics_count_first_level_resolution_per_topic(lab: ConsoleLab) -> None:
    from ivr.stats.knowledge import first_level

    naspi = await _id(lab, "naspi")
    kb, store = lab.deps.console.knowledge, lab.deps.store
    at = lab.clock.now()
    with_article = await lab.call("3330000101", operator="anna", topic="citizens")
    await kb.resolve_call(with_article, naspi, operator_id=(await lab.deps.operators.get("anna")).id, at=at)
    plain = await lab.call("3330000102", operator="anna", topic="citizens")
    await store.file_outcome(plain, "resolved", note=None, operator_id=None, at=at)
    second = await lab.call("3330000103", operator="anna", topic="employers")
    await store.file_outcome(second, "escalated", note=None, operator_id=None, at=at)
    await lab.call("3330000104", topic="citizens")  # never reached an operator: not counted
    day = at.date()
    rows = {(r.topic, r.total): r for r in await first_level(store.run_read, day, day)}
    citizens, employers, total = rows[("citizens", False)], rows[("employers", False)], rows[(None, True)]
    assert (citizens.answered, citizens.first_level, citizens.with_article) == (2, 2, 1)
    assert (employers.answered, employers.first_level, employers.with_article) == (1, 0, 0)
    assert (total.answered, total.first_level, total.with_article, total.rate) == (3, 2, 1, 2 / 3)
    page = await (await (await lab.login("sara")).get("/console/stats")).text()
    table = page[page.index('<table class="first-level">') :]
    table = table[: table.index("</table>")]
    assert re.search(r"Totale</th>\s*<td>3</td>\s*<td>2</td>\s*<td>67%</td>\s*<td>1</td>", table)
