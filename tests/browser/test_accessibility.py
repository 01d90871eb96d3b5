"""The Italian public administration's accessibility rules (AgID guidelines: WCAG 2.1 AA) on the
public pages and every console page, checked in a real browser with axe-core (vendored,
tests/browser/vendor, scripts/vendor-axe): no serious or critical violation on any page, each
role on the pages it reaches. What axe cannot judge (the desk used by keyboard alone, what a
screen reader announces) is tested on the desk itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page

from ivr.knowledge.samples import add_samples
from tests.browser.desks import login
from tests.browser.test_console_roles import NewContext, _seed
from tests.console_support import console_lab

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")

PUBLIC = ["/richiesta", "/statistiche", "/console/login"]
BY_ROLE = {
    "anna": ["/console/desk", "/console/requests", "/console/kb", "/console/desk/reviews"],
    "sara": ["/console/wallboard", "/console/tickets", "/console/voicemail", "/console/missed", "/console/stats",
             "/console/operators", "/console/closures", "/console/campaigns", "/console/referrals", "/console/kb/new",
             "/console/reviews", "/console/notices"],
    "ada": ["/console/users", "/console/audit"],
}  # fmt: skip


async def _audited(new_context: NewContext) -> BrowserContext:
    """A browser profile with axe-core in every page it opens (an init script: the pages' own
    Content-Security-Policy, which allows no inline or foreign script, stays as it is)."""
    context = await new_context()
    await context.add_init_script(path=str(AXE))
    return context


async def _violations(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map(v => "
        "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))",
        TAGS,
    )
    return found


async def test_every_page_has_no_serious_or_critical_accessibility_violation(
    tmp_path: Path, new_context: NewContext
) -> None:
    async with console_lab(tmp_path) as lab:
        base = str(lab.server.make_url("")).rstrip("/")
        await _seed(lab, tmp_path)
        pages: dict[str, list[dict[str, Any]]] = {}
        anonymous = await (await _audited(new_context)).new_page()
        for url in PUBLIC:
            await anonymous.goto(base + url)
            pages[url] = await _violations(anonymous)
        samples = Path(__file__).resolve().parents[2] / "config" / "knowledge" / "esempi"
        now = lab.clock.now()
        added = await add_samples(lab.deps.console.knowledge, samples, by="esempi", at=now, today=now.date())
        article = await lab.deps.console.knowledge.by_slug(Path(added.created[0]).stem)
        assert article is not None
        ticket = lab.seed["bruno_call"]
        extra = {
            "anna": [f"/console/kb/{article.id}"],  # an article, as operators read it on the desk
            "sara": [f"/console/tickets/{ticket}", f"/console/voicemail/{lab.seed['message']}",
                     f"/console/kb/{article.id}/edit", f"/console/kb/{article.id}/history"],
        }  # fmt: skip
        for user, urls in BY_ROLE.items():
            page = await login(await _audited(new_context), base, user)
            for url in [*urls, *extra.get(user, [])]:
                response = await page.goto(base + url)
                assert response is not None and response.status == 200, (user, url)
                pages[f"{user} {url}"] = await _violations(page)
    counts = {impact: sum(1 for found in pages.values() for v in found if v["impact"] == impact)
              for impact in ("critical", "serious", "moderate", "minor")}  # fmt: skip
    print(f"\naxe-core on {len(pages)} pages: violations by impact {counts}")
    blocking = {name: [v for v in found if v["impact"] in BLOCKING] for name, found in pages.items()}
    assert not any(blocking.values()), {name: found for name, found in blocking.items() if found}
