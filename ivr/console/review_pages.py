"""Quality reviews in the console: supervisors score consented call recordings with the review
form (`reviews:`) and read the results per operator and period; each operator reads their own.
A review is of a recording already listened to through the audited player; saving it is audited
too."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from ivr.console.web import (
    Invalid,
    Routes,
    audit,
    csv_download,
    form,
    int_param,
    now,
    redirect,
    render,
    services,
    text,
    user_of,
)
from ivr.csvcells import write_csv
from ivr.reviews.scoring import ReviewError
from ivr.reviews.service import OperatorResult, QualityReviews

routes = Routes()
LONGEST = 366  # days in one report


def _reviews(request: web.Request) -> QualityReviews:
    found = services(request).reviews
    if found is None:
        raise web.HTTPNotFound(text="le valutazioni di qualità non sono attive")
    return found


def _period(request: web.Request) -> tuple[date, date]:
    svc = services(request)
    today = now(request).astimezone(svc.settings.service.tz).date()
    try:
        last = date.fromisoformat(request.query["a"]) if request.query.get("a") else today
        first = date.fromisoformat(request.query["da"]) if request.query.get("da") else last.replace(day=1)
    except ValueError:
        raise Invalid("Date non valide: usi il formato AAAA-MM-GG.") from None
    if first > last or (last - first).days >= LONGEST:
        raise Invalid(f"Il periodo va da una data a una successiva, al massimo {LONGEST} giorni.")
    return first, last


@routes.get("/reviews", "supervisor")
async def reviews_page(request: web.Request) -> web.StreamResponse:
    repo = _reviews(request)
    try:
        first, last = _period(request)
    except Invalid as exc:
        return render(request, "error.html", status=400, error=str(exc), back="/console/reviews")
    operator = request.query.get("operatore") or None
    report = await repo.report(first, last, services(request).settings.service.tz)
    rows = await repo.reviewable(user_of(request).login, operator=operator)
    return render(request, "reviews.html", report=report, rows=rows, first=first, last=last, operator=operator,
                  criteria=repo.settings.criteria)  # fmt: skip


def report_csv(report: list[OperatorResult], labels: list[str]) -> str:
    head = ["operatore", "valutazioni", "punteggio_medio", *labels]
    rows = [
        {"operatore": r.operator, "valutazioni": r.reviews, "punteggio_medio": r.score,
         **{label: r.by_criterion.get(label, "") for label in labels}}
        for r in report
    ]  # fmt: skip
    return write_csv(head, rows)


@routes.get("/reviews.csv", "supervisor")
async def reviews_csv(request: web.Request) -> web.StreamResponse:
    repo = _reviews(request)
    try:
        first, last = _period(request)
    except Invalid as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    report = await repo.report(first, last, services(request).settings.service.tz)
    labels = [c.label for c in repo.settings.criteria]
    return csv_download(report_csv(report, labels), f"valutazioni-{first.isoformat()}-{last.isoformat()}.csv")


async def _show(request: web.Request, recording_id: int, error: str | None = None, status: int = 200) -> web.Response:
    repo = _reviews(request)
    found = await repo.recording(recording_id)
    if found is None:
        raise web.HTTPNotFound(text="nessuna registrazione di una chiamata con consenso con questo numero")
    ticket, rec, login = found
    given = await repo.of_recording(recording_id)
    me = user_of(request).login
    mine = next((r for r in given if r.reviewer == me), None)
    return render(request, "review.html", status=status, ticket=ticket, rec=rec, operator=login, mine=mine,
                  others=[r for r in given if r.reviewer != me], criteria=repo.settings.criteria,
                  scale=repo.settings.scale, error=error)  # fmt: skip


@routes.get("/reviews/{id}", "supervisor")
async def review_page(request: web.Request) -> web.StreamResponse:
    return await _show(request, int_param(request.match_info["id"], "recording"))


@routes.post("/reviews/{id}", "supervisor")
async def review_save(request: web.Request) -> web.StreamResponse:
    repo = _reviews(request)
    recording_id = int_param(request.match_info["id"], "recording")
    data = await form(request)
    try:
        comment = text(data, "comment", limit=2000)
        given = {c.key: data.get(f"c_{c.key}") for c in repo.settings.criteria}
        saved = await repo.save(recording_id, user_of(request).login, given, comment, now(request))
    except (Invalid, ReviewError) as exc:
        return await _show(request, recording_id, error=str(exc), status=400)
    await audit(request, "review_saved", "recording", recording_id, ticket=saved.ticket_id, score=saved.score)
    raise redirect("/console/reviews", "review_saved")


@routes.get("/desk/reviews", "operator")
async def my_reviews(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    # A supervisor with no operator account of their own has no reviews: the page says so.
    mine = await _reviews(request).of_operator(user.operator_login) if user.operator_login else []
    return render(request, "my_reviews.html", reviews=mine)
