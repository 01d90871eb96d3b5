"""The console in a real browser, without calls: each role logs in through the form and reaches
what it may (and is refused the rest); a supervisor plays a voicemail in the page."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from tests.browser.desks import login
from tests.console_support import ConsoleLab, console_lab

pytestmark = pytest.mark.browser
NewContext = Callable[[], Awaitable[BrowserContext]]


async def played(player: Locator, timeout_s: float = 10.0) -> float:
    """How far the audio element got (it plays for real: its time moves on)."""
    position = 0.0
    for _ in range(int(timeout_s / 0.1)):
        position = float(await player.evaluate("a => a.currentTime"))
        if position > 0.2:
            break
        await asyncio.sleep(0.1)
    return position


async def status_of(page: Page, url: str) -> int:
    response = await page.goto(url)
    assert response is not None
    return response.status


async def test_roles_pages_and_voicemail_player(tmp_path: Path, new_context: NewContext, screenshots: Path) -> None:
    async with console_lab(tmp_path) as lab:
        base = str(lab.server.make_url("")).rstrip("/")
        await _seed(lab, tmp_path)

        anonymous = await (await new_context()).new_page()
        await anonymous.goto(f"{base}/console/wallboard")
        await expect(anonymous.get_by_role("heading", name="Accesso alla console")).to_be_visible()
        await anonymous.screenshot(path=str(screenshots / "login.png"))
        await anonymous.get_by_label("Nome utente").fill("sara")
        await anonymous.get_by_label("Password").fill("sbagliata-123")
        await anonymous.keyboard.press("Enter")
        await expect(anonymous.get_by_role("alert")).to_contain_text("non corretti")

        # An operator: the desk, and nothing of the supervisors.
        anna = await login(await new_context(), base, "anna")
        await expect(anna).to_have_url(f"{base}/console/desk")
        nav = anna.get_by_role("navigation", name="Sezioni della console")
        await expect(nav.get_by_role("link")).to_have_text(["La mia scrivania", "Richieste web", "Base di conoscenza"])
        await expect(anna.locator("#desk-calls .call-card")).to_have_count(1)  # her call still to file
        await expect(anna.locator(".call-card .caller")).to_have_text("3331112222")
        await expect(anna.get_by_text("Nessuna pratica precedente di questo numero.")).to_be_visible()
        await anna.screenshot(path=str(screenshots / "desk.png"))
        for url in ("/console/wallboard", "/console/tickets", "/console/voicemail", "/console/users"):
            assert await status_of(anna, base + url) == 403, url
        assert await status_of(anna, f"{base}/console/tickets/{lab.seed['bruno_call']}") == 403

        # The operator files her call from the page, with the keyboard.
        await anna.goto(f"{base}/console/desk")
        card = anna.locator(f"#ticket-{lab.seed['anna_call']}")
        await card.get_by_label("Note della chiamata").fill("chiarito l'iscrizione al centro per l'impiego")
        await card.get_by_label("Risolta (primo livello)").check()
        await card.get_by_role("button", name="Registra la scheda").focus()
        await anna.keyboard.press("Enter")
        await expect(card).to_have_count(0)
        await expect(anna.locator("#no-calls")).to_be_visible()
        filed = await lab.deps.store.get(lab.seed["anna_call"])
        assert filed is not None and (filed.status, filed.resolution_note) == (
            "resolved",
            "chiarito l'iscrizione al centro per l'impiego",
        )

        # A supervisor: the line, the tickets, the voicemail with its player.
        sara = await login(await new_context(), base, "sara")
        await expect(sara).to_have_url(f"{base}/console/wallboard")
        await expect(sara.locator("#wb-admitted")).to_have_text("0 / 400")
        await sara.screenshot(path=str(screenshots / "wallboard.png"))
        assert await status_of(sara, f"{base}/console/users") == 403
        await sara.goto(f"{base}/console/tickets?sla=overdue")
        await expect(sara.locator("table.tickets tbody tr")).to_have_count(1)
        await sara.goto(f"{base}/console/tickets")
        await sara.screenshot(path=str(screenshots / "tickets.png"))
        await sara.get_by_role("link", name="Segreteria").click()
        await expect(sara.get_by_text("messaggi da gestire")).to_be_visible()
        await sara.screenshot(path=str(screenshots / "voicemail.png"))
        await sara.get_by_role("link", name=f"#{lab.seed['message']}", exact=True).click()
        await expect(sara.locator("#callback-number")).to_contain_text("3337770001")
        player = sara.locator("#player")
        await player.evaluate("a => a.play()")
        assert await played(player) > 0.2, "the voicemail did not play in the page"
        await sara.screenshot(path=str(screenshots / "message.png"))
        await sara.get_by_label("Assegna a").select_option("anna")
        await sara.get_by_role("button", name="Assegna").click()
        await expect(sara.locator("#message-status")).to_contain_text("anna")
        listens = await lab.accounts.audit_entries(kind="voicemail")
        assert {(e.login, e.action) for e in listens} >= {("sara", "voicemail_listen"), ("sara", "voicemail_view")}
        for url, name in (("/console/operators", "operators"), ("/console/closures", "closures"),
                          ("/console/campaigns", "campaigns"), ("/console/stats", "stats")):  # fmt: skip
            assert await status_of(sara, base + url) == 200
            await sara.screenshot(path=str(screenshots / f"{name}.png"))

        # The "closed now" switch, and back.
        await sara.goto(f"{base}/console/closures")
        await sara.get_by_label("Motivo (registrato sulle pratiche)").fill("Sciopero")
        await sara.get_by_role("button", name="Chiudi la linea adesso").click()
        await expect(sara.locator("#line-state")).to_contain_text("chiusa")
        status = lab.deps.calendar.status(lab.clock.now(), await lab.deps.closures.current(lab.clock.now()))
        assert not status.open and status.closure is not None and status.closure.reason == "Sciopero"
        await sara.get_by_role("button", name="Riapri la linea").click()
        await expect(sara.locator("#line-state")).to_contain_text("aperta")

        # An administrator: users and the access log.
        ada = await login(await new_context(), base, "ada")
        await ada.get_by_role("link", name="Utenti").click()
        await ada.screenshot(path=str(screenshots / "users.png"))
        await ada.get_by_role("link", name="Registro accessi").click()
        await expect(ada.locator("table")).to_contain_text("voicemail_listen")
        await ada.screenshot(path=str(screenshots / "audit.png"))


async def _seed(lab: ConsoleLab, tmp_path: Path) -> None:
    from datetime import timedelta

    from ivr.schema.tickets import Ticket

    lab.seed = {
        "anna_call": await lab.call("3331112222", operator="anna"),
        "bruno_call": await lab.call("3332223333", operator="bruno"),
        "message": await lab.voicemail("3337770001"),
    }
    late = await lab.call("3334445555", operator="bruno")
    await lab.deps.store.file_outcome(late, "escalated", note="documenti", operator_id=None, at=lab.clock.now())

    def overdue(session: object) -> None:
        row = session.get(Ticket, late)  # type: ignore[attr-defined]
        row.sla_flag = "overdue"
        row.callback_due = lab.clock.now() - timedelta(days=1)

    await lab.deps.store.run_write(overdue)
