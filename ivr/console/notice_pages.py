"""Service notices from the console: a supervisor types what every caller hears after the
welcome until a time they choose; it is synthesised at once, audited, and can be lifted early."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.console.web import (
    Invalid,
    Routes,
    address,
    form,
    int_param,
    now,
    redirect,
    render,
    services,
    takes_upload,
    text,
    user_of,
)
from ivr.hours.notices import LONGEST_RECORDING_S, LONGEST_TEXT, NoticeDesk
from ivr.prompts.library import AUDIO_SUFFIXES, PromptError
from ivr.tickets.audit import Actor

routes = Routes()
UPLOAD_BYTES = 8 * 1024 * 1024  # a minute of a phone's recording in any usual format, and then some
LONGEST_DAYS = 31  # a notice is for an event, not a standing message: the flow's prompts are for that


def _desk(request: web.Request) -> NoticeDesk:
    found = services(request).notices
    if found is None:
        raise web.HTTPNotFound(text="gli avvisi di servizio non sono attivi")
    return found


async def _page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    desk = _desk(request)
    at = now(request)
    rows = await desk.notices.rows()
    tz = services(request).settings.service.tz
    tonight = datetime.combine(at.astimezone(tz).date(), time(23, 59), tz)
    return render(request, "notices.html", status=status, rows=rows, at=at, default_until=tonight,
                  longest=LONGEST_TEXT, longest_s=int(LONGEST_RECORDING_S), **extra)  # fmt: skip


@routes.get("/notices", "supervisor")
async def notices(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post("/notices", "supervisor")
@takes_upload(UPLOAD_BYTES)
async def add_notice(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    at = now(request)
    tz = services(request).settings.service.tz
    try:
        said = text(data, "text", limit=LONGEST_TEXT, required=True) or ""
        raw = text(data, "until", limit=32, required=True) or ""
        try:
            until = datetime.fromisoformat(raw)
        except ValueError:
            raise Invalid(f"data e ora non valide: {raw!r}") from None
        until = until.replace(tzinfo=tz) if until.tzinfo is None else until
        if until <= at:
            raise Invalid("l'avviso deve finire nel futuro")
        if until - at > timedelta(days=LONGEST_DAYS):
            raise Invalid(f"al massimo {LONGEST_DAYS} giorni: per un messaggio stabile si cambia il flusso")
        by = Actor(user=user_of(request), address=address(request))
        with _uploaded(data.get("audio")) as recording:
            await _desk(request).add(said, until, at=at, by=by, recording=recording)
    except (Invalid, ValueError, PromptError) as exc:
        return await _page(request, 400, error=str(exc))
    raise redirect("/console/notices", "notice_saved")


@contextlib.contextmanager
def _uploaded(field: object) -> Iterator[Path | None]:
    """The supervisor's recording in a file of its own while it is converted (sox tells the format
    by the name's suffix, so only an audio suffix is kept), removed after; None when no file came."""
    if not isinstance(field, web.FileField) or not field.filename:
        yield None
        return
    suffix = Path(field.filename).suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise Invalid(f"formato non riconosciuto: usa {', '.join(s.lstrip('.') for s in AUDIO_SUFFIXES)}")
    handle, name = tempfile.mkstemp(prefix="nul-notice-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(field.file, out)
        yield path
    finally:
        path.unlink(missing_ok=True)


@routes.post("/notices/{id}/end", "supervisor")
async def end_notice(request: web.Request) -> web.StreamResponse:
    notice_id = int_param(request.match_info["id"], "notice")
    by = Actor(user=user_of(request), address=address(request))
    await _desk(request).end(notice_id, at=now(request), by=by)
    raise redirect("/console/notices", "notice_ended")
