"""A reply or an escalation sent from a web request's page while the ticket database is away is a
fault to retry, not a refusal: 503, saying what was not done and to try again, as every console
page the database's absence stops (ivr.console.auth). Full run 6's reply page answered 400 with
the writer's message, the soak's driver took it for a refusal and gave up on it."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.tickets.writer import StoreUnavailable
from ivr.webrequests.service import RequestView, WebRequests
from tests.console_support import ConsoleLab, console_lab

CONSOLE = Path(__file__).resolve().parents[2] / "ivr" / "console"
REQUEST = {
    "name": "Giulia Ferri",
    "email": "giulia.ferri@example.org",
    "topic": "citizens",
    "subject": "Assegno di inclusione",
    "message": "Ho perso il lavoro a febbraio. Posso chiedere l'assegno di inclusione?",
    "privacy": "on",
}


class Away(WebRequests):
    """The store's writes of replies and escalations refused as the writer refuses them while
    the database is down (nothing stored), for as long as `down`."""

    def __init__(self, inner: WebRequests) -> None:
        super().__init__(inner.db)
        self.down = True

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("the ticket database is unavailable; try again shortly")

    async def reply(
        self, ticket_id: int, text: str, by: str | None, now: datetime, *, article: tuple[int, str] | None = None
    ) -> RequestView:
        self._check()
        return await super().reply(ticket_id, text, by, now, article=article)

    async def escalate(self, ticket_id: int, note: str, by: str | None, now: datetime, *, days: float) -> RequestView:
        self._check()
        return await super().escalate(ticket_id, note, by, now, days=days)


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


@pytest.mark.parametrize(
    ("step", "data", "said", "done"),
    [
        ("reply", {"reply": "Può chiederlo sul sito dell'INPS."}, "La risposta non è stata inviata", "request_replied"),
        ("escalate", {"note": "serve il parere dell'INPS"}, "non è stata passata al secondo livello",
         "request_escalated"),
    ],
)  # fmt: skip
async def test_a_step_the_database_was_away_for_is_a_fault_to_retry(
    lab: ConsoleLab, step: str, data: dict[str, str], said: str, done: str
) -> None:
    channel = lab.deps.web.web_requests
    ticket_id = (await channel.submit(REQUEST, "192.0.2.40")).ticket_id
    away = Away(channel.requests)
    channel.requests = away
    sara = await lab.login("sara")
    token = await lab.csrf(sara)
    path = f"/console/requests/{ticket_id}/{step}"
    answer = await sara.post(path, data={"_csrf": token, **data}, allow_redirects=False)
    text = await answer.text()
    assert answer.status == 503, text
    assert said in text and "riprova tra qualche secondo" in text
    assert answer.headers.get("Retry-After") == "10"
    view = await away.view(ticket_id)
    assert (view.replied_at, view.level) == (None, 1)  # nothing was done, as the page says

    away.down = False  # the database is back: the same post, sent again, is done
    again = await sara.post(path, data={"_csrf": token, **data}, allow_redirects=False)
    assert again.status == 303 and f"msg={done}" in again.headers["Location"]


def test_no_console_page_takes_the_database_away_for_a_refusal() -> None:
    """The outage is answered in one place, the guard: no handler catches StoreUnavailable
    (among its refusals, a 4xx), it says what was not done with `unless_store_away`."""
    catching = []
    for module in sorted(CONSOLE.glob("*.py")):
        if module.name in ("auth.py", "web.py"):  # the guard, and the way to it
            continue
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if (
                isinstance(node, ast.ExceptHandler)
                and node.type is not None
                and "StoreUnavailable" in ast.unparse(node.type)
            ):
                catching.append(f"{module.name}:{node.lineno}")
    assert catching == []
