"""The console's statistics page shows what the charter's two levels rest on, together: first-level
resolution with the knowledge base, the second level by channel, referrals, and how plain the
articles, replies and prompts are. Real console app, real store, real articles and offices."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest

from ivr.knowledge.files import import_dir
from ivr.referrals.csvfile import parse
from tests.console_support import ConsoleLab, console_lab

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def lab(tmp_path: Path) -> Any:
    async with console_lab(tmp_path) as lab:
        yield lab


async def test_one_page_for_both_levels(lab: ConsoleLab) -> None:
    svc = lab.deps.console
    at = lab.clock.now()
    assert not (await import_dir(svc.knowledge, REPO / "tests" / "data" / "kb", by="test", at=at)).errors
    offices = parse((REPO / "config" / "referrals" / "sample-offices.csv").read_bytes())
    await svc.referrals.repo.import_rows(offices, at)
    naspi = await svc.knowledge.by_slug("naspi")
    assert naspi is not None

    answered = await lab.call("3331110001", operator="anna")
    operator_id = (await lab.deps.operators.get("anna")).id
    await svc.knowledge.resolve_call(answered, naspi.id, operator_id=operator_id, at=at)
    referred = await lab.call("3331110002", operator="anna")
    office = (await svc.referrals.repo.search("Bologna"))[0]
    await svc.referrals.refer(referred, office.id, operator_id=operator_id, by="anna", note=None, email=None)
    request = await lab.deps.web.web_requests.submit(
        {"name": "Luca Neri", "email": "luca.neri@example.org", "topic": "citizens", "subject": "Pensione",
         "message": "Quando posso andare in pensione?", "privacy": "on"},
        "192.0.2.40",
    )  # fmt: skip
    await lab.deps.web.web_requests.escalate(request.ticket_id, "risponde l'INPS", "sara")

    page = html.unescape(await (await (await lab.login("sara")).get("/console/stats")).text())
    resolution = page.split("<h2>Risoluzione al primo livello</h2>")[1].split("</table>")[0]
    total = " ".join(resolution.split('<tr class="total">')[1].split())
    assert total.startswith('<th scope="row">Totale</th> <td>2</td> <td>2</td> <td>100%</td> <td>1</td>')
    levels = page.split("<h2>Primo e secondo livello</h2>")[1].split("</table>")[0]
    phone_first = levels.split("Telefono, primo livello (risposta immediata)</th>")[1].split("</tr>")[0]
    assert phone_first.startswith("<td>2</td><td>2</td>")  # the article and the referral, both immediate
    web_second = levels.split("Web, secondo livello (risposta per e-mail entro 10 giorni)</th>")[1].split("</tr>")[0]
    assert web_second.startswith("<td>1</td><td>0</td><td>0</td><td>1</td>")  # one open, due in 10 days
    referrals = page.split('id="invii"')[1]
    assert "1 cittadini indirizzati" in referrals and office.name in referrals
    plain = page.split("Linguaggio semplice (indice Gulpease)")[1].split("</table>")[0]
    row = plain.split("Articoli della base di conoscenza</th>")[1].split("</tr>")[0]
    assert row.startswith(f"<td>{len(await svc.knowledge.listing())}</td>")
