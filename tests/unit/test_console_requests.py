"""The console's web-request pages on the real console app and store: the list with the
commitment, the citizen's text, the reply editor (suggested articles, the Gulpease index and its
warning), the reply and the passage to the second level."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest

from ivr.webrequests.articles import Suggestion
from tests.console_support import ConsoleLab, console_lab

KB_DATA = Path(__file__).resolve().parents[1] / "data" / "kb"
REQUEST = {
    "name": "Giulia Ferri",
    "email": "giulia.ferri@example.org",
    "topic": "citizens",
    "subject": "Assegno di inclusione",
    "message": "Ho perso il lavoro a febbraio. Posso chiedere l'assegno di inclusione? Cosa devo fare?",
    "privacy": "on",
}
ARTICLE = Suggestion(
    7,
    "Assegno di inclusione: chi può chiederlo",
    "chi ha perso il lavoro...",
    "Può chiedere l'assegno sul sito dell'INPS. Serve l'ISEE. La risposta arriva in 30 giorni.",
)


class TwoArticles:
    """A knowledge base that always suggests the same articles (the finder's contract)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, int]] = []

    async def suggest(self, text: str, topic: str | None, limit: int) -> list[Suggestion]:
        self.asked.append((text, topic, limit))
        return [ARTICLE, Suggestion(8, "NASpI", "indennità di disoccupazione", "La NASpI si chiede all'INPS.")]


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def _request(lab: ConsoleLab) -> int:
    received = await lab.deps.web.web_requests.submit(REQUEST, "192.0.2.30")
    return received.ticket_id


async def test_list_page_and_editor_with_readability(lab: ConsoleLab) -> None:
    ticket_id = await _request(lab)
    anna = await lab.login("anna")
    listing = await (await anna.get("/console/requests")).text()
    assert f"#{ticket_id}" in listing and "Assegno di inclusione" in listing and "Nei tempi" in listing
    page = html.unescape(await (await anna.get(f"/console/requests/{ticket_id}")).text())
    assert REQUEST["message"] in page and "Passa al secondo livello" in page
    assert "Usa questo articolo" not in page  # no knowledge base wired: no suggestion

    token = await lab.csrf(anna)
    hard = (
        "L'ottemperanza agli adempimenti amministrativi propedeutici all'erogazione dell'indennità "
        "presuppone la preventiva acquisizione della documentazione comprovante i requisiti contributivi."
    )
    checked = await anna.post(
        f"/console/requests/{ticket_id}/reply", data={"_csrf": token, "reply": hard, "action": "check"}
    )
    body = await checked.text()
    assert checked.status == 200 and "Indice Gulpease" in body and "Sotto 60" in body
    easy = "Può chiedere l'assegno sul sito dell'INPS. Serve l'ISEE. Le rispondono in un mese."
    checked = await anna.post(
        f"/console/requests/{ticket_id}/reply", data={"_csrf": token, "reply": easy, "action": "check"}
    )
    assert "Sotto 60" not in await checked.text()
    ticket = await lab.ticket(ticket_id)
    assert ticket is not None and ticket.sla_met_at is None  # checking sends nothing


async def test_reply_built_from_a_suggested_article(lab: ConsoleLab) -> None:
    finder = TwoArticles()
    lab.deps.console.articles = finder
    ticket_id = await _request(lab)
    anna = await lab.login("anna")
    page = html.unescape(await (await anna.get(f"/console/requests/{ticket_id}")).text())
    assert "Usa questo articolo" in page and ARTICLE.title in page
    assert finder.asked[-1][1:] == ("citizens", 5)
    filled = html.unescape(await (await anna.get(f"/console/requests/{ticket_id}?article=7")).text())
    assert ARTICLE.body in filled and "articolo n. 7" in filled
    token = await lab.csrf(anna)
    sent = await anna.post(
        f"/console/requests/{ticket_id}/reply",
        data={"_csrf": token, "reply": ARTICLE.body, "article": "7", "action": "send"},
        allow_redirects=False,
    )
    assert sent.status == 303
    view = await lab.deps.store.get(ticket_id)
    assert view is not None and view.status == "closed" and view.level == 1 and view.sla_met_at is not None
    used = next(e for e in view.events if e.kind == "article_used")
    assert used.detail is not None and used.detail["article"] == 7
    done = html.unescape(await (await anna.get(f"/console/requests/{ticket_id}")).text())
    assert "Risposta inviata" in done and "Invia risposta" not in done
    # No mail server in this lab: the page says the citizen was not reached, and what to do.
    assert "E-mail con la risposta: non partita: avvisi il cittadino in altro modo." in done
    assert 'id="reply-mail" data-sent="no"' in done


async def test_escalation_from_the_console(lab: ConsoleLab) -> None:
    ticket_id = await _request(lab)
    sara = await lab.login("sara")
    token = await lab.csrf(sara)
    refused = await sara.post(f"/console/requests/{ticket_id}/escalate", data={"_csrf": token, "note": ""})
    assert refused.status == 400 and "secondo livello" in await refused.text()
    done = await sara.post(
        f"/console/requests/{ticket_id}/escalate",
        data={"_csrf": token, "note": "serve il parere dell'INPS"},
        allow_redirects=False,
    )
    assert done.status == 303
    ticket = await lab.ticket(ticket_id)
    assert ticket is not None and (ticket.level, ticket.sla_kind) == (2, "web_second")
    page = html.unescape(await (await sara.get(f"/console/requests/{ticket_id}")).text())
    assert "Secondo livello dal" in page and "Passa al secondo livello" not in page
    assert 'id="notice-mail" data-sent="no"' in page and "E-mail non partita" in page
    assert 'id="reply-mail"' not in page  # no reply yet
    second = await (await sara.get("/console/requests?level=2")).text()
    assert f"#{ticket_id}" in second
    first = await (await sara.get("/console/requests?level=1")).text()
    assert f"#{ticket_id}" not in first
    tickets = await (await sara.get("/console/tickets?kind=web_second")).text()
    assert f"#{ticket_id}" in tickets


async def test_statistics_page_shows_levels_and_plain_language(lab: ConsoleLab) -> None:
    ticket_id = await _request(lab)
    await lab.deps.web.web_requests.answer(ticket_id, "Può chiederlo sul sito dell'INPS. Serve l'ISEE.", "anna")
    sara = await lab.login("sara")
    page = html.unescape(await (await sara.get("/console/stats")).text())
    assert "Web, primo livello (risposta entro 48 ore)" in page
    assert "Risposte inviate alle richieste web" in page and "Messaggi della linea telefonica" in page
    row = page.split("Risposte inviate alle richieste web</th>")[1].split("</tr>")[0]
    assert row.startswith("<td>1</td>")  # one reply measured


async def test_the_knowledge_base_suggests_and_the_reply_names_its_article(lab: ConsoleLab) -> None:
    """The real knowledge base behind the editor: the request's own words find the article, and a
    reply built from it is a first-level answer naming that article on the ticket."""
    from ivr.knowledge.files import import_dir

    knowledge = lab.deps.console.knowledge
    report = await import_dir(knowledge, KB_DATA, by="test", at=lab.clock.now())
    assert not report.errors
    article = await knowledge.by_slug("assegno-inclusione")
    assert article is not None
    ticket_id = await _request(lab)
    anna = await lab.login("anna")
    page = html.unescape(await (await anna.get(f"/console/requests/{ticket_id}")).text())
    assert "Usa questo articolo" in page and article.title in page
    token = await lab.csrf(anna)
    sent = await anna.post(
        f"/console/requests/{ticket_id}/reply",
        data={"_csrf": token, "reply": article.draft.body, "article": str(article.id), "action": "send"},
        allow_redirects=False,
    )
    assert sent.status == 303
    ticket = await lab.ticket(ticket_id)
    assert ticket is not None and (ticket.level, ticket.kb_article_id) == (1, article.id)
