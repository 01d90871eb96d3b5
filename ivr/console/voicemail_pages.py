"""Voicemail in the console: the boxes, one message with its player and transcript, and the
audio itself (every listen or download audited). Operators see only messages given to them."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ivr.console.supervise import audit_listen
from ivr.console.web import (
    Routes,
    address,
    can_see_ticket,
    int_param,
    now,
    render,
    services,
    user_of,
)
from ivr.recordings.paths import audio_dirs, confined
from ivr.voicemail import messages
from ivr.voicemail.messages import MessageView

routes = Routes()


@routes.get("/voicemail", "supervisor")
async def boxes(request: web.Request) -> web.StreamResponse:
    q = request.query
    box = (q.get("box") or "").strip()[:32] or None
    wanted = q.get("status")
    state = wanted if wanted in messages.STATUSES else None
    words = (q.get("text") or "").strip()[:100] or None
    repo = services(request).messages
    counts = await repo.boxes()
    found = await repo.listing(box=box, status=state, text=words, limit=100)
    per_box: dict[str, dict[str, int]] = {}
    for name, state, n in counts:
        per_box.setdefault(name, {})[state or "—"] = n
    waiting = sum(n for _name, state, n in counts if state in ("new", "assigned"))
    return render(
        request,
        "voicemail.html",
        per_box=per_box,
        found=found,
        box=box,
        state=state,
        text_query=words or "",
        waiting=waiting,
        statuses=messages.STATUSES,
    )


async def _message(request: web.Request) -> MessageView:
    message_id = int_param(request.match_info["id"], "message")
    try:
        found, operator_id = await services(request).messages.view_with_operator(message_id)
    except messages.MessageError:
        raise web.HTTPNotFound(text="messaggio non trovato") from None
    if not can_see_ticket(user_of(request), operator_id, found.assigned_to):
        raise web.HTTPForbidden(text="questo messaggio non è assegnato a te")
    return found


@routes.get("/voicemail/{id}", "operator")
async def message(request: web.Request) -> web.StreamResponse:
    found = await _message(request)
    svc = services(request)
    operators = await svc.operators.directory.all() if user_of(request).at_least("supervisor") else []
    await services(request).accounts.audit(
        user_of(request),
        "voicemail_view",
        now(request),
        kind="voicemail",
        object_id=found.id,
        address=address(request),
    )
    return render(request, "message.html", m=found, operators=operators)


@routes.get("/voicemail/{id}/audio", "operator")
async def audio(request: web.Request) -> web.StreamResponse:
    """The browser copy (MP3) when there is one, else the original recording."""
    found = await _message(request)
    dirs = audio_dirs(services(request).settings)
    candidates = confined((found.web_audio, found.audio), dirs, what=f"voicemail {found.id}")
    path = await asyncio.to_thread(lambda: next((p for p in candidates if p.is_file()), None))
    if path is None:
        raise web.HTTPNotFound(text="l'audio di questo messaggio non è ancora disponibile")
    download = request.query.get("download") == "1"
    await audit_listen(request, "voicemail_download" if download else "voicemail_listen", "voicemail", found.id, path)
    disposition = f'attachment; filename="messaggio-{found.id}{path.suffix}"' if download else "inline"
    return web.FileResponse(path, headers={"Cache-Control": "no-store", "Content-Disposition": disposition})
