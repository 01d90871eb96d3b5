"""The public statistics page (Italian), its CSV and JSON: /statistiche, .csv, .json.

The charter promises statistics "for external use": this is what anyone may read, so it shows
totals per day, week or month only, never a caller, a message or an operator. It is plain HTML
rendered on the server with inline SVG charts and a data table (no script needed), and results
are kept for a minute so a busy page does not become a load on the ticket store.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from html import escape
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select

from ivr.clock import Clock
from ivr.ratelimit import RateLimiter
from ivr.schema.tickets import Ticket
from ivr.stats import citizens_public
from ivr.stats.citizens import CallbackFigures, callback_figures
from ivr.stats.config import StatsSettings
from ivr.stats.formats import to_csv, to_json
from ivr.stats.pagehtml import render_page
from ivr.stats.queries import Period, Scope
from ivr.stats.reasons import ReasonReport, as_public, public_section, reason_report
from ivr.stats.report import Reader, Report, build_report, default_range
from ivr.tickets.config import ReasonSettings
from ivr.tickets.periods import ROME
from ivr.web.clientaddr import client_address

PERIOD_WORDS: dict[str, Period] = {"giorno": "day", "settimana": "week", "mese": "month"}
WORDS_OF: dict[Period, str] = {v: k for k, v in PERIOD_WORDS.items()}
MAX_DAYS: dict[Period, int] = {"day": 366, "week": 3 * 366, "month": 10 * 366}
CACHE_S = 60.0


class BadQuery(ValueError):
    """A query parameter the page cannot use; the message is for the reader, in Italian."""


class TooMany(Exception):
    """Too many requests from one client address; `wait_s` until the next is accepted."""

    def __init__(self, wait_s: int) -> None:
        super().__init__(f"Troppe richieste da questo indirizzo: riprovare tra {wait_s} secondi.")
        self.wait_s = wait_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.wait_s)}


@dataclass(frozen=True)
class PageQuery:
    start: date
    end: date
    period: Period

    def params(self) -> str:
        return urlencode({"da": self.start.isoformat(), "a": self.end.isoformat(), "periodo": WORDS_OF[self.period]})


def _day(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadQuery(
            f"Il parametro «{name}» deve essere una data nel formato AAAA-MM-GG, per esempio 2026-03-01 "
            f"(ricevuto: «{raw[:40]}»)."
        ) from None


def parse_query(params: Mapping[str, str], today: date) -> PageQuery:
    """?da=AAAA-MM-GG&a=AAAA-MM-GG&periodo=giorno|settimana|mese, each optional."""
    word = params.get("periodo", "mese").strip().lower() or "mese"
    if word not in PERIOD_WORDS:
        raise BadQuery(f"Il parametro «periodo» deve essere giorno, settimana o mese (ricevuto: «{word[:40]}»).")
    period = PERIOD_WORDS[word]
    start, end = _day(params, "da"), _day(params, "a")
    default_start, default_end = default_range(period, end or today)
    start, end = start or default_start, end or default_end
    if start > end:
        raise BadQuery(f"La data «da» ({start:%d/%m/%Y}) è successiva alla data «a» ({end:%d/%m/%Y}).")
    if (end - start).days + 1 > MAX_DAYS[period]:
        limit = {"day": "un anno per giorno", "week": "tre anni per settimana", "month": "dieci anni per mese"}[period]
        raise BadQuery(f"Intervallo troppo lungo: al massimo {limit}. Scegliere un periodo più ampio o meno date.")
    return PageQuery(start, end, period)


def clamp(query: PageQuery, first: date | None, today: date) -> PageQuery:
    """Only days the service has lived through: before its first day and after today there is
    nothing to count, and a report over them would only cost the store."""
    if query.start > today:
        raise BadQuery(f"Le date chieste sono nel futuro: i dati arrivano fino a oggi, {today:%d/%m/%Y}.")
    if first is not None and query.end < first:
        raise BadQuery(f"Il servizio è attivo dal {first:%d/%m/%Y}: per le date chieste non ci sono dati.")
    start = max(query.start, first) if first is not None else query.start
    return PageQuery(start, min(query.end, today), query.period)


class _FirstDay:
    """The service's first day: from the config, else the first ticket's (kept once known)."""

    def __init__(self, read: Reader, configured: date | None, ttl_s: float) -> None:
        self.read, self.known, self.ttl_s = read, configured, ttl_s
        self._checked = -math.inf

    async def get(self) -> date | None:
        if self.known is None and time.monotonic() - self._checked >= self.ttl_s:
            self.known = await self.read(lambda s: s.scalar(select(func.min(Ticket.local_day))))
            self._checked = time.monotonic()
        return self.known


@dataclass(frozen=True)
class Published:
    """What the page shows for a range: the report, and the queued callbacks and languages."""

    report: Report
    citizens: CallbackFigures
    reasons: ReasonReport | None = None  # with `reasons.options` only


class _Cache:
    def __init__(self, ttl_s: float, size: int = 64) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._items: dict[PageQuery, tuple[float, Published]] = {}

    async def get(self, key: PageQuery, make: Callable[[], Awaitable[Published]]) -> Published:
        now = time.monotonic()
        found = self._items.get(key)
        if found is not None and now - found[0] < self.ttl_s:
            return found[1]
        report = await make()
        if len(self._items) >= self.size:
            self._items = {k: v for k, v in self._items.items() if now - v[0] < self.ttl_s}
            if len(self._items) >= self.size:
                self._items.clear()
        self._items[key] = (now, report)
        return report


def public_routes(
    read: Reader,
    settings: StatsSettings,
    *,
    clock: Clock,
    tz: ZoneInfo = ROME,
    service_name: str = "Il Numero per il lavoro",
    cache_s: float = CACHE_S,
    reasons: ReasonSettings | None = None,
) -> list[web.RouteDef]:
    """GET /statistiche (HTML), /statistiche.json, /statistiche.csv for a public web server.

    Each client address may ask `public_requests_per_min` times a minute (cached or not): the
    page is public, and every new range is work for the ticket store."""
    cache = _Cache(cache_s)
    first_day = _FirstDay(read, settings.public_since, cache_s)
    limiter = RateLimiter(settings.public_requests_per_min, 60.0)

    async def report_for(request: web.Request) -> tuple[PageQuery, Published]:
        now = clock.now()
        wait = limiter.check(client_address(request) or "unknown", now.timestamp())
        if wait is not None:
            raise TooMany(wait)
        today = now.astimezone(tz).date()
        query = clamp(parse_query(request.query, today), await first_day.get(), today)

        async def make() -> Published:
            scope = Scope(query.start, query.end, query.period, None, clock.now(), settings.service_level_s)
            report = await build_report(read, scope)
            why = None
            if reasons is not None and reasons.asked:
                why = await reason_report(read, query.start, query.end, query.period, reasons)
            return Published(report, await callback_figures(read, query.start, query.end), why)

        return query, await cache.get(query, make)

    async def page(request: web.Request) -> web.Response:
        try:
            query, report = await report_for(request)
        except BadQuery as exc:
            return web.Response(status=400, text=_error_page(str(exc), service_name), content_type="text/html")
        except TooMany as exc:
            html = _error_page(str(exc), service_name)
            return web.Response(status=429, text=html, content_type="text/html", headers=exc.headers())
        html = render_page(
            report.report, query.params(), service_name, tz, citizens=report.citizens,
            extra="" if report.reasons is None else public_section(report.reasons),
        )  # fmt: skip
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "public, max-age=60"})

    async def as_json(request: web.Request) -> web.Response:
        try:
            _query, report = await report_for(request)
        except BadQuery as exc:
            return web.json_response({"errore": str(exc)}, status=400)
        except TooMany as exc:
            return web.json_response({"errore": str(exc)}, status=429, headers=exc.headers())
        document = {**json.loads(to_json(report.report)), **citizens_public.as_dict(report.citizens)}
        if report.reasons is not None:
            document |= as_public(report.reasons)
        return web.Response(text=json.dumps(document, ensure_ascii=False, indent=1), content_type="application/json")

    async def as_csv(request: web.Request) -> web.Response:
        try:
            query, report = await report_for(request)
        except BadQuery as exc:
            return web.Response(status=400, text=str(exc) + "\n", content_type="text/plain")
        except TooMany as exc:
            return web.Response(status=429, text=str(exc) + "\n", content_type="text/plain", headers=exc.headers())
        name = f"statistiche-{query.start}-{query.end}-{WORDS_OF[query.period]}.csv"
        return web.Response(
            text=to_csv(report.report),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return [
        web.get("/statistiche", page),
        web.get("/statistiche.json", as_json),
        web.get("/statistiche.csv", as_csv),
    ]


def _error_page(message: str, service_name: str) -> str:
    return (
        '<!doctype html><html lang="it"><head><meta charset="utf-8">'
        f"<title>Richiesta non valida - {escape(service_name)}</title></head><body><main>"
        f"<h1>Richiesta non valida</h1><p>{escape(message)}</p>"
        '<p><a href="/statistiche">Torna alle statistiche</a></p></main></body></html>'
    )
