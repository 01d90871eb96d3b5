"""A simulated operator at the browser desk: the console in headless Chromium, the desk's own
WebRTC phone (SIP over the console's `/ws` relay, DTLS-SRTP media), a person's habits.

The person logs in, makes themselves available and keeps the desk open. When the desk rings they
answer with the desk's "Rispondi" after a moment, speak (Chromium's microphone is a WAV of their
voice, looped, with silence around it, so whenever the call is connected the caller hears the
voice's opening within one loop), stay a seeded talk time, hang up with "Riaggancia" and file the
call's card as the plan's desk steps say (resolved, with a knowledge-base article when the desk
offers one, or escalated with a contact). Every ring is written down as a `Leg`, like the other
simulated operators' phones.

Faults reach a desk the way they reach a person: after a takeover the console they had open is
gone and the line's proxy sends them to the engine now active (here: the console answering
`/api/ready`, as the README's proxy checks); a session that ended (the service day moved on, the
engine forgot it) shows the login form and they log in again; a phone left unregistered (Asterisk
restarted) makes them reload the page; a desk the engine paused as closed makes them press
"Disponibile" again. Each of these is written down as a `DeskEvent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import subprocess
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from playwright.async_api import Browser, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from ivr.lab.soak.action_journal import ActionJournal
from ivr.lab.soak.actions import DeskStep
from ivr.lab.soak.checks_reasons import reason_for
from ivr.lab.soak.desk_habits import Act, DeskEvent, Filing, Look, filing, filing_record, next_act
from ivr.lab.soak.kit import within_ear
from ivr.lab.soak.operators import Leg
from ivr.lab.soak.plan import SoakPlan

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, kept off the network (the lab has none); the browser tests launch it so too.
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def media_flags(microphone: Path) -> list[str]:
    """An operator's browser: a microphone that plays `microphone` (looped), the lab's
    self-signed certificate trusted and loopback ICE candidates offered (TESTBED.md)."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--allow-loopback-in-peer-connection",
        "--ignore-certificate-errors",
    ]


# The engines' desk phones for a soak: the synthetic voice is what a browser's noise suppression
# removes, so audio processing is off; a closed desk is noticed in seconds, not the default 20.
DESK_WEBRTC: dict[str, Any] = {"heartbeat_s": 2, "desk_timeout_s": 10, "audio_processing": False}
CONSOLE_PASSWORD = "scrivania-soak-2026"  # the desk user's console password (a throwaway line)
_ARTICLES = Path(__file__).resolve().parents[3] / "tests" / "data" / "kb"
SAMPLE_ARTICLES = _ARTICLES if _ARTICLES.is_dir() else None  # a checkout's articles: the soak's desk offers them


# --- the line's side: the desk's operator and console user ---------------------------------------


class EngineLike(Protocol):
    config: dict[str, Any]
    path: Path  # its configuration file


def console_bases(engines: Sequence[EngineLike]) -> list[str]:
    return [f"http://127.0.0.1:{e.config['console']['port']}" for e in engines]


async def add_desk_account(
    db_url: str,
    login: str,
    name: str,
    when: datetime,
    password: str = CONSOLE_PASSWORD,
    articles: tuple[Path, Path] | None = None,
) -> None:
    """The desk's operator (no outside number: the desk is the phone) and the console
    user with the operator role working as it, as `ivr operator add` and `ivr user add --role
    operator --operator LOGIN` make them. A running engine picks the operator up at its next
    operator sync (every couple of seconds). `articles`: (an engine's configuration file, a folder
    of knowledge-base articles) imported as `ivr kb import` does, so the desk offers articles."""
    from ivr.acd.operators import OperatorDirectory
    from ivr.command_table import install as install_commands
    from ivr.console.accounts import Accounts
    from ivr.tickets.db import make_engine
    from ivr.tickets.store import SqlTicketStore

    install_commands()
    db = make_engine(db_url)
    store = SqlTicketStore(db)
    await store.start()
    try:
        # A softphone account it never registers: the directory wants a way to reach every operator,
        # and the desk's phone, once registered, is the one rung (ivr.acd.agents).
        await OperatorDirectory(store).add(login, name, now=when)
        await Accounts(store).add(login, "operator", password, when, name=name, operator=login)
        if articles is not None:
            from ivr.knowledge.files import import_dir
            from ivr.knowledge.setup import make_knowledge
            from ivr.settings import load_settings

            kb = make_knowledge(load_settings(articles[0]), store)
            report = await import_dir(kb, articles[1], by="soak", at=when)
            if not report.created:
                raise RuntimeError(f"knowledge base import: no article saved: {report.errors}")
            for error in report.errors:  # an article of a topic this line's menu does not have
                log.info("soak desk: knowledge base: %s skipped: %s", error.name, error.error)
    finally:
        await store.stop()
        db.dispose()


def microphone(voice: Path, target: Path, lead_s: float = 0.1, tail_s: float = 0.1) -> Path:
    """The operator's voice as Chromium's microphone: 48 kHz 16-bit PCM (its own rate), a breath
    of silence before and after, so the looped file has a clear opening for the caller's ear each
    time, and the next opening comes soon enough for the checker (`kit.within_ear`: a second of
    silence on each side left joins that heard no voice for 2 s)."""
    subprocess.run(
        ["sox", str(voice), "-r", "48000", "-b", "16", str(target), "pad", str(lead_s), str(tail_s)], check=True
    )
    with wave.open(str(target)) as w:
        within_ear(target, w.getnframes() / w.getframerate(), "a microphone loop")
    return target


# --- the person ------------------------------------------------------------------------------------


@dataclass
class BrowserDeskOperator:
    login: str
    consoles: Callable[[], Sequence[str]]  # the engines' console bases (http://host:port)
    mic: Path  # 48 kHz WAV (see `microphone`)
    steps: list[DeskStep] = field(default_factory=list)  # how each call is filed, in turn
    password: str = CONSOLE_PASSWORD
    seed: int = 0
    talk_s: tuple[float, float] = (9.0, 12.0)  # more than one loop of the microphone plus its opening
    answer_after_s: tuple[float, float] = (1.0, 2.5)  # a person reaches for "Rispondi"
    patience_s: float = 15.0  # a phone unregistered this long: the page is reloaded
    legs: list[Leg] = field(default_factory=list)
    events: list[DeskEvent] = field(default_factory=list)
    filed: dict[int, Filing] = field(default_factory=dict)
    journal: ActionJournal | None = None  # the driver's: the desk's filings are judged with the rest
    offset_s: Callable[[], float] = lambda: 0.0  # the engines' clock offset, read at each filing
    _rng: random.Random = field(init=False)
    _pw: Playwright | None = None
    _browser: Browser | None = None
    _page: Page | None = None
    _here: str | None = None
    _unregistered_since: float | None = None
    _task: asyncio.Task[None] | None = None
    _steps_used: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(f"desk:{self.login}:{self.seed}")

    async def start(self, ready_timeout_s: float = 90.0) -> None:
        """Chromium up, logged in, available, the phone registered; then the desk is served. A desk
        not working in time is written down and served anyway (it keeps trying, as a person would):
        the soak goes on, and the desk's record says what went wrong."""
        self._pw = await async_playwright().start()
        flags = [*HEADLESS, *media_flags(self.mic)]
        self._browser = await self._pw.chromium.launch(executable_path=CHROMIUM, args=flags, headless=True)
        deadline = time.monotonic() + ready_timeout_s
        while not (await self._working(starting=True) and await self._registered()):
            if time.monotonic() > deadline:
                self.note("error", f"not working {ready_timeout_s:.0f} s after starting")
                log.error("desk %s: not working after %.0f s: %s", self.login, ready_timeout_s, self.events[-3:])
                break
            await asyncio.sleep(0.5)
        self._task = asyncio.ensure_future(self._serve())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._browser is not None:
            await self._browser.close()
        if self._pw is not None:
            await self._pw.stop()

    def note(self, what: str, detail: str = "") -> None:
        self.events.append(DeskEvent(datetime.now(UTC), what, detail))
        log.info("desk %s: %s %s", self.login, what, detail)

    def report(self) -> dict[str, Any]:
        """The desk's own record, written beside the run."""
        return {
            "login": self.login,
            "legs": [asdict(leg) for leg in self.legs],
            "filed": {str(t): asdict(f) for t, f in sorted(self.filed.items())},
            "events": [asdict(e) for e in self.events],
        }

    # --- keeping the desk working --------------------------------------------------------------

    async def _ready_console(self) -> str | None:
        """The console answering `/api/ready` (200 on the active engine only), as the proxy sees."""
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for base in self.consoles():
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{base}/api/ready") as response:
                        if response.status == 200:
                            return base
        return None

    async def _look(self) -> Look:
        ready = await self._ready_console()
        page = self._page
        if page is None or page.is_closed() or self._here is None:
            return Look(here=None, ready=ready)
        seen: dict[str, Any] = await page.evaluate(
            """() => {
              const login = !!document.querySelector('form[action="/console/login"]');
              const phone = window.nulPhone || null;
              const mine = document.getElementById('my-state');
              const box = mine ? mine.closest('.state') : null;
              const state = box ? (Array.from(box.classList).find(c => c.startsWith('state-')) || '').slice(6) : null;
              const reason = box ? (box.textContent.match(/\\(([^)]*)\\)/) || [null, null])[1] : null;
              return {login, registered: !!(phone && phone.registered), phone: !!phone, state, reason};
            }"""
        )
        registered = bool(seen["registered"] or seen["login"])  # a login form has no phone to wait for
        now = time.monotonic()
        if registered:
            self._unregistered_since = None
        elif self._unregistered_since is None:
            self._unregistered_since = now
        return Look(
            here=self._here,
            ready=ready,
            on_login=bool(seen["login"]),
            registered=registered,
            unregistered_s=0.0 if self._unregistered_since is None else now - self._unregistered_since,
            state=seen["state"],
            reason=seen["reason"],
        )

    async def _working(self, starting: bool = False) -> bool:
        """One look at the desk and what the person does about it; True when there is nothing to
        do (the desk works). A page that fails under a fault is written down and looked at again."""
        try:
            look = await self._look()
            act = next_act(look, self.patience_s, starting)
            if act is Act.NOTHING:
                return True
            if act is not Act.WAIT:
                self.note(act, f"on {look.ready}" if act is Act.GO else f"state {look.state} ({look.reason})")
            await self._do(act, look)
        except PlaywrightError as exc:  # the console died under the page, a navigation raced a fault
            self.note("error", str(exc).splitlines()[0][:200])
            self._here = None if self._page is None or self._page.is_closed() else self._here
        return False

    async def _do(self, act: Act, look: Look) -> None:
        if act is Act.WAIT:
            await asyncio.sleep(1.0)
        elif act is Act.GO:
            assert look.ready is not None and self._browser is not None
            if self._page is None or self._page.is_closed():
                context = await self._browser.new_context(viewport={"width": 1280, "height": 800}, locale="it-IT")
                context.set_default_timeout(15_000)
                self._page = await context.new_page()
            self._here = look.ready
            self._unregistered_since = None
            await self._page.goto(f"{look.ready}/console/desk")
        elif act is Act.LOGIN:
            page = self._page
            assert page is not None
            await page.get_by_label("Nome utente").fill(self.login)
            await page.get_by_label("Password").fill(self.password)
            await page.get_by_role("button", name="Accedi").click()
            await page.get_by_role("button", name="Esci").wait_for()
            if "/console/desk" not in page.url:
                await page.goto(f"{self._here}/console/desk")
            self._unregistered_since = None
        elif act is Act.RELOAD:
            assert self._page is not None
            self._unregistered_since = None
            await self._page.reload()
        elif act is Act.AVAILABLE:
            assert self._page is not None
            await self._page.get_by_role("button", name="Disponibile").click()
            await self._page.locator("#my-state").filter(has_text="Disponibile").wait_for(timeout=10_000)

    async def _registered(self) -> bool:
        assert self._page is not None
        return bool(await self._page.evaluate("() => !!(window.nulPhone && window.nulPhone.registered)"))

    # --- calls -----------------------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if not await self._working():
                continue
            page = self._page
            assert page is not None
            try:
                state = await page.evaluate("() => window.nulPhone ? window.nulPhone.state : null")
                if state == "ringing" and await page.locator("#phone-answer").is_visible():
                    await self._take_call(page)
                else:
                    await self._file_pending(page)
            except PlaywrightError as exc:
                self.note("error", str(exc).splitlines()[0][:200])
                if self.legs and self.legs[-1].ended_at is None:
                    self.legs[-1].ended_at = datetime.now(UTC)

    async def _take_call(self, page: Page) -> None:
        leg = Leg(self.login, datetime.now(UTC), talk_s=round(self._rng.uniform(*self.talk_s), 2))
        self.legs.append(leg)
        ringing = page.locator(".call-card.ringing")
        ticket = await ringing.first.get_attribute("data-ticket") if await ringing.count() else None
        await asyncio.sleep(self._rng.uniform(*self.answer_after_s))
        if await page.evaluate("() => window.nulPhone.state") != "ringing":
            leg.ended_at = datetime.now(UTC)  # it stopped ringing (the caller left, the offer ran out)
            return
        await page.locator("#phone-answer").click()
        try:
            await page.wait_for_function("() => window.nulPhone.state === 'talking'", timeout=10_000)
        except PlaywrightTimeout:
            leg.ended_at = datetime.now(UTC)
            self.note("error", f"answered ticket {ticket}, the call never connected")
            return
        leg.confirmed = True
        self.note("answered", f"ticket {ticket}")  # when the call connected: a fault right after cuts it unheard
        talked = time.monotonic()
        while time.monotonic() - talked < leg.talk_s:
            await asyncio.sleep(0.2)
            if await page.evaluate("() => window.nulPhone.state") != "talking":
                break  # the caller hung up (or the line ended the call)
        else:
            leg.hung_up_by_operator = True
            await page.locator("#phone-hangup").click()
        leg.ended_at = datetime.now(UTC)
        if ticket is not None and ticket.isdigit():
            await self._file(page, int(ticket))

    async def _file_pending(self, page: Page) -> None:
        """Cards still to file (a page reloaded after a call shows them): filed as they come."""
        for ticket in await page.locator(".call-card:not(.live)").evaluate_all("cs => cs.map(c => c.dataset.ticket)"):
            if ticket and str(ticket).isdigit() and int(ticket) not in self.filed:
                await self._file(page, int(ticket))

    def _journal(self, ticket: int, chosen: Filing | None, sent_at: datetime, why: str = "") -> None:
        if self.journal is not None:
            now = datetime.now(UTC)
            self.journal.append(filing_record(self.login, ticket, chosen, sent_at, now, self.offset_s(), why))

    async def _file(self, page: Page, ticket: int) -> None:
        sent_at = datetime.now(UTC)
        card = page.locator(f"#ticket-{ticket}")
        if not await card.count():
            self.note("not_filed", f"ticket {ticket}: its card is not on the desk")
            self.filed[ticket] = Filing("none", note="card not on the desk")
            self._journal(ticket, None, sent_at, "card not on the desk")
            return
        step = self.steps[self._steps_used] if self._steps_used < len(self.steps) else None
        self._steps_used += 1
        articles = [
            int(a)
            for a in await card.locator(".kb-item[data-article]").evaluate_all("xs => xs.map(x => x.dataset.article)")
        ]
        chosen = filing(step, articles)
        asked = card.locator('select[name="reason"]')
        if await asked.count():  # the line asks why the citizen called: chosen and saved first
            reason = reason_for(ticket)
            await asked.select_option(reason)
            await card.get_by_role("button", name="Salva il motivo").click()
            try:
                await card.locator("form.reason .form-status").filter(has_text="Motivo:").wait_for(timeout=10_000)
                chosen = replace(chosen, reason=reason)
            except PlaywrightTimeout:
                self.note("reason", f"ticket {ticket}: the reason was not saved; filed without")
        if chosen.article is not None:
            await card.get_by_role("button", name=f"Risolta con l'articolo {chosen.article}", exact=True).click()
        else:
            form = card.locator("form.outcome")
            await form.locator(f'input[name="outcome"][value="{chosen.outcome}"]').check()
            if chosen.outcome == "escalated":
                await form.locator('input[name="contact_name"]').fill("Cittadino della prova")
                confirm = form.locator('input[name="caller_id_confirmed"]')
                if await confirm.count():
                    await form.locator('input[name="answer_by"][value="phone"]').check()
                    await confirm.check()
                else:  # a withheld number: the answer goes by e-mail
                    await form.locator('input[name="contact_email"]').fill("cittadino@example.it")
                    await form.locator('input[name="answer_by"][value="email"]').check()
            await form.get_by_role("button", name="Registra la scheda").click()
        try:
            await card.wait_for(state="detached", timeout=10_000)
        except PlaywrightTimeout:
            said = await card.locator(".form-status").all_inner_texts()
            why = " ".join(said).strip() or "no answer from the console"
            self.note("not_filed", f"ticket {ticket}: {why}")
            self.filed[ticket] = Filing("none", note=" ".join(said).strip())
            self._journal(ticket, None, sent_at, why)
            return
        # Filed only when the desk says so: a card also leaves when the page is drawn again (the
        # desk reconnecting to the engine after a takeover), and that was taken for a filing.
        alert = page.locator("#call-alert")
        announced = (await alert.text_content() or "") if await alert.count() else ""
        if f"pratica {ticket} registrata" not in announced:
            why = "the card left the desk without the desk saying it was filed"
            self.note("not_filed", f"ticket {ticket}: {why}")
            self.filed[ticket] = Filing("none", note=why)
            self._journal(ticket, None, sent_at, why)
            return
        self.filed[ticket] = chosen
        self._journal(ticket, chosen, sent_at)
        self.note(
            "filed", f"ticket {ticket}: {chosen.outcome}" + (f", article {chosen.article}" if chosen.article else "")
        )


# --- the soak runner's hook ------------------------------------------------------------------------


class DeskLine(Protocol):
    """What of the soak's line the desks need (bench/soak_line.py's SoakLine)."""

    db_url: str
    work: Path
    clock_offset_s: float

    @property
    def engines(self) -> Sequence[EngineLike]: ...


async def start_browser_desks(
    line: DeskLine,
    login: str | None,
    voices: dict[str, Path],
    plan: SoakPlan,
    passwords: dict[str, str],
    journal: ActionJournal | None = None,
) -> list[BrowserDeskOperator]:
    """The desk operator of a soak: its microphone, Chromium logged in and available. The line has
    its operator (a softphone account never registered: the desk's phone is the one rung) and the
    soak's driver its console user (`passwords`, made with `ivr user add --role operator
    --operator LOGIN` for every operator: `ivr.lab.soak.driver_setup`); a line without the driver
    makes them with `add_desk_account`."""
    if login is None:
        return []
    if login not in passwords:
        raise ValueError(f"the desk's operator {login!r} has no console user (passwords: {sorted(passwords)})")
    mic = await asyncio.to_thread(microphone, voices[login], line.work / f"{login}-desk-48k.wav")
    desk = BrowserDeskOperator(
        login,
        lambda: console_bases(line.engines),
        mic,
        steps=plan.desk,
        password=passwords[login],
        seed=plan.seed,
        journal=journal,
        offset_s=lambda: line.clock_offset_s,
    )
    await desk.start()
    return [desk]


async def stop_browser_desks(desks: list[BrowserDeskOperator], out: Path) -> None:
    """Stops the desks and writes each one's record (`desk-<login>.json`) in the run folder."""
    for desk in desks:
        await desk.stop()
        (out / f"desk-{desk.login}.json").write_text(json.dumps(desk.report(), indent=1, default=str))
