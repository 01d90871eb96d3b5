"""Referrals in the console: on the desk, find the office for the citizen's comune or province
and "Indirizza a" it (the outcome `referred`, the details optionally e-mailed); for supervisors,
the directory (by region and province) and its CSV import."""

from __future__ import annotations

from aiohttp import web

from ivr.console.web import (
    Invalid,
    Routes,
    address,
    form,
    int_param,
    now,
    own_call,
    redirect,
    render,
    services,
    text,
    user_of,
    wants_json,
)
from ivr.referrals import csvfile
from ivr.referrals.names import KINDS
from ivr.referrals.provinces import PROVINCES
from ivr.referrals.repository import ReferralError
from ivr.tickets.audit import Actor, Audited
from ivr.tickets.reasons import ReasonError

routes = Routes()
MAIL_MESSAGES = {"none": "referred", "sent": "referred_mailed", "failed": "referred_mail_failed",
                 "held": "referred_mail_held", "off": "referred_mail_off"}  # fmt: skip


@routes.get("/desk/tickets/{id}/referral", "operator")
async def find_office(request: web.Request) -> web.StreamResponse:
    ticket = await own_call(request)
    query = (request.query.get("q") or "").strip()[:100]
    found = await services(request).referrals.repo.search(query) if query else []
    if wants_json(request):
        return web.json_response({"offices": [{**o.details(), "id": o.id, "why": o.why} for o in found]})
    return render(request, "referral.html", ticket=ticket, query=query, found=found)


@routes.post("/desk/tickets/{id}/referral", "operator")
async def refer(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    ticket = await own_call(request)
    data = await form(request)
    back = f"/console/desk/tickets/{ticket.id}/referral"
    try:
        office_id = int_param(text(data, "office", limit=20, required=True), "office")
        note = text(data, "note", limit=4000)
        email = text(data, "email", limit=254)
        services(request).outcomes.reasons.for_filing(ticket.call_reason, None)  # chosen on the card, if asked
        audited = Audited(Actor(user=user, address=address(request)), "ticket_referral")
        done = await services(request).referrals.refer(
            ticket.id, office_id, operator_id=user.operator_id, by=user.login, note=note, email=email, audited=audited
        )
    except (Invalid, ReferralError, ReasonError) as exc:
        if wants_json(request):
            return web.json_response({"error": str(exc)}, status=400)
        return render(request, "error.html", status=400, error=str(exc), back=back)
    if wants_json(request):
        r = done.referral
        return web.json_response({"ticket": ticket.id, "referral": r.id, "office": r.office_code, "mail": done.mail})
    raise redirect("/console/desk", MAIL_MESSAGES[done.mail])


@routes.get("/referrals", "supervisor")
async def directory(request: web.Request) -> web.StreamResponse:
    repo = services(request).referrals.repo
    region = (request.query.get("regione") or "").strip()[:64] or None
    province = (request.query.get("provincia") or "").strip().upper()[:2] or None
    offices = await repo.offices(region=region, province=province)
    return render(
        request, "referrals.html", offices=offices, regions=await repo.regions(), region=region, province=province,
        provinces=PROVINCES, kinds=KINDS, errors=[], imported=request.query.get("importati"),
    )  # fmt: skip


@routes.post("/referrals/import", "supervisor")
async def import_csv(request: web.Request) -> web.StreamResponse:
    """A CSV upload: all rows or none, every error shown with its line and column."""
    user = user_of(request)
    repo = services(request).referrals.repo
    upload = (await form(request)).get("file")
    data = upload.file.read() if isinstance(upload, web.FileField) else b""
    try:
        rows = csvfile.parse(data)
    except csvfile.CsvRejected as exc:
        offices = await repo.offices()
        return render(
            request, "referrals.html", status=400, offices=offices, regions=await repo.regions(), region=None,
            province=None, provinces=PROVINCES, kinds=KINDS, errors=exc.errors, imported=None,
        )  # fmt: skip
    done = await repo.import_rows(rows, now(request))
    await services(request).accounts.audit(
        user, "referrals_import", now(request), kind="referrals", object_id=None, address=address(request),
        detail={"added": done.added, "updated": done.updated},
    )  # fmt: skip
    raise redirect("/console/referrals", None, importati=len(rows))
