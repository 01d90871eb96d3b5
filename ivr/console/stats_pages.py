"""Statistics for supervisors, from the statistics package: the line's figures per period, per
topic or per operator, the survey results, charts, and the CSV of the very same report."""

from __future__ import annotations

from aiohttp import web

from ivr.console.web import Routes, csv_download, now, render, services
from ivr.stats.charts import Series, bar_chart
from ivr.stats.citizens import callback_figures
from ivr.stats.formats import to_csv
from ivr.stats.knowledge import first_level
from ivr.stats.page import BadQuery, PageQuery, parse_query
from ivr.stats.pagehtml import level_table, short_label
from ivr.stats.plain_language import BANDS, distribution, of_indexes, replies_sent
from ivr.stats.queries import BREAKDOWNS, Breakdown, Scope
from ivr.stats.reasons import reason_report
from ivr.stats.referrals import referral_report
from ivr.stats.report import Report, build_report

routes = Routes()
BREAKDOWN_WORDS: dict[str, Breakdown] = {"argomento": "topic", "operatore": "operator"}


def _query(request: web.Request) -> tuple[PageQuery, Breakdown | None]:
    svc = services(request)
    today = now(request).astimezone(svc.settings.service.tz).date()
    query = parse_query(request.query, today)
    by = BREAKDOWN_WORDS.get(request.query.get("per", ""))
    return query, by if by in BREAKDOWNS else None


async def _report(request: web.Request, query: PageQuery, by: Breakdown | None) -> Report:
    svc = services(request)
    scope = Scope(
        query.start, query.end, query.period, by, now(request), service_level_s=svc.settings.stats.service_level_s
    )
    return await build_report(svc.tickets.run_read, scope)


def _charts(report: Report) -> list[str]:
    period = report.scope.period
    rows = [r for r in report.rows if r.period is not None and r.group is None] or [
        r for r in report.rows if r.period is not None
    ]
    labels = [short_label(r.period, period) for r in rows if r.period is not None]
    figures = [r.figures for r in rows]
    satisfaction = [f.survey["satisfaction"].average if "satisfaction" in f.survey else None for f in figures]
    return [
        bar_chart(
            "console-chiamate",
            "Chiamate ricevute e con risposta",
            "Per ogni periodo: chiamate ricevute e chiamate con risposta di un operatore.",
            labels,
            [
                Series("ricevute", [f.offered for f in figures], "offered"),
                Series("con risposta", [f.answered for f in figures], "answered"),
            ],
        ),
        bar_chart(
            "console-livello",
            "Livello di servizio",
            f"Quota di chiamate ammesse con risposta entro {report.scope.service_level_s:g} secondi.",
            labels,
            [Series("livello di servizio", [f.service_level for f in figures], "level")],
            percent=True,
        ),
        bar_chart(
            "console-soddisfazione",
            "Soddisfazione media (questionario, da 1 a 5)",
            "Media delle risposte alla domanda sulla soddisfazione, per periodo.",
            labels,
            [Series("soddisfazione", satisfaction, "level")],
        ),
    ]


@routes.get("/stats", "supervisor")
async def stats(request: web.Request) -> web.StreamResponse:
    try:
        query, by = _query(request)
    except BadQuery as exc:
        return render(request, "error.html", status=400, error=str(exc), back="/console/stats")
    report = await _report(request, query, by)
    referrals = await referral_report(services(request).tickets.run_read, query.start, query.end, query.period)
    reasons = None
    if services(request).settings.reasons.asked:
        reasons = await reason_report(
            services(request).tickets.run_read, query.start, query.end, query.period, services(request).settings.reasons
        )
    resolution = await first_level(services(request).tickets.run_read, query.start, query.end)
    citizens = await callback_figures(services(request).tickets.run_read, query.start, query.end)
    groups = [r for r in report.groups] if by else []
    svc = services(request)
    threshold = svc.settings.web_requests.readability_threshold
    replies = await svc.tickets.run_read(replies_sent(query.start, query.end))
    articles = await svc.knowledge.listing()
    readability = [
        distribution("Risposte inviate alle richieste web", replies, threshold),
        of_indexes(
            "Articoli della base di conoscenza", (a.gulpease for a in articles), svc.settings.knowledge.min_gulpease
        ),
        distribution("Messaggi della linea telefonica", svc.prompt_texts().values(), threshold),
    ]
    params = query.params() + (f"&per={request.query['per']}" if by else "")
    return render(
        request,
        "stats.html",
        report=report,
        referrals=referrals,
        reasons=reasons,
        query=query,
        by=by,
        per=request.query.get("per", ""),
        charts=_charts(report),
        groups=groups,
        params=params,
        label_of=lambda d: short_label(d, query.period),
        levels_html=level_table(report.levels_of(None), "Richieste per canale e livello nel periodo"),
        readability=readability,
        bands=BANDS,
        resolution=resolution,
        citizens=citizens,
    )


@routes.get("/stats.csv", "supervisor")
async def stats_csv(request: web.Request) -> web.StreamResponse:
    try:
        query, by = _query(request)
    except BadQuery as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    report = await _report(request, query, by)
    return csv_download(to_csv(report), f"statistiche-{query.start.isoformat()}-{query.end.isoformat()}.csv")
