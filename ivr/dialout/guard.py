"""Which numbers the engine may dial out through the carrier, and the audit of every dial-out.

The engine pays for every call it places: an operator's home number, the citizen called back.
A number typed by a caller, a web form or a careless administrator could otherwise be a premium
line (89x, 178, 144/166, 199), a network service code (4xx), a short code or a foreign number,
so one allow-list of prefixes decides, for every dial-out, in one place. Numbers are compared in
one canonical form (+<country code><national number>), so `+39 06...`, `0039 06...` and
`06...` are the same number and a prefix is written once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ivr.acd.offers import OfferFailed
from ivr.dialout.config import _RAW, E164_MAX_DIGITS, DialoutSettings
from ivr.ha.guard import UNLEASED, Fenced, LineGuard
from ivr.telephony.dialstring import carrier_leg, parse_carrier_leg

log = logging.getLogger(__name__)


class NumberRefused(ValueError):
    """A number the engine will not dial; `reason` says why in a few words, for people."""

    def __init__(self, number: str, reason: str, motivo: str) -> None:
        self.number, self.reason, self.motivo = number, reason, motivo
        super().__init__(f"number {number!r} may not be dialled out: {reason} (dialout.allowed_prefixes)")

    @property
    def italian(self) -> str:
        return f"il numero {self.number} non può essere chiamato: {self.motivo}"


def canonical(raw: str, country_code: str) -> str:
    """`+<country code><number>`: `00` is the international prefix, anything else is national."""
    text = raw.strip()
    if text.startswith("+"):
        return text
    if text.startswith("00"):
        return "+" + text[2:]
    return f"+{country_code}{text}"


def check(number: str, settings: DialoutSettings) -> str:
    """The number as the carrier is dialled with (national for the service's country, +CC...
    abroad), or NumberRefused naming why."""
    text = number.strip()
    if not _RAW.match(text):
        raise NumberRefused(number, "digits only, optionally a leading +", "sono ammesse solo cifre")
    full = canonical(text, settings.country_code)
    if len(full) - 1 > E164_MAX_DIGITS:
        raise NumberRefused(number, "too long", "numero troppo lungo")
    home = "+" + settings.country_code
    national = full[len(home) :] if full.startswith(home) else None
    refused = [p for p in settings.refused_prefixes if full.startswith(canonical(p, settings.country_code))]
    if refused:
        raise NumberRefused(number, _kind(national), "numero a pagamento, di servizio o breve")
    if not any(full.startswith(canonical(p, settings.country_code)) for p in settings.allowed_prefixes):
        if national is None:
            raise NumberRefused(number, "international numbers are not allowed", "numero estero non ammesso")
        raise NumberRefused(number, _kind(national), "numero non ammesso (solo fissi e cellulari italiani)")
    if national is not None:
        if len(national) < settings.min_digits:
            raise NumberRefused(number, "too short (a short code)", "numero troppo corto")
        if len(national) > settings.max_digits:
            raise NumberRefused(number, "too long", "numero troppo lungo")
        return national
    return full


def _kind(national: str | None) -> str:
    if national is None:
        return "international numbers are not allowed"
    if national.startswith(("89", "84", "178", "199", "144", "166")):
        return "premium or shared-cost number"
    if national.startswith("4"):
        return "network service code"
    if national.startswith("1"):
        return "short code or non-geographic number"
    return "prefix not in the allow-list"


def dialable(number: str | None, settings: DialoutSettings) -> bool:
    if not number:
        return False
    try:
        check(number, settings)
    except NumberRefused:
        return False
    return True


def carrier_number(endpoint: str) -> str | None:
    """The number in a carrier dial string (`PJSIP/<number>@<trunk>`); None for a softphone."""
    leg = parse_carrier_leg(endpoint)
    return leg.number if leg else None


# --- the guard every dial-out passes ---------------------------------------------------------

AuditSink = Callable[[str, str, dict[str, Any]], Awaitable[None]]  # action, number, detail

# Who dials and for which ticket, set by the task that dials (the console's callback), so the
# audit entry says more than the number; the queue's offers leave it empty.
DIAL_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("dial_context", default=None)


@dataclass
class DialGuard:
    """Wraps an offerer (anything with `dial(endpoint, ...)`): a carrier leg to a number outside
    the allow-list is refused before Asterisk sees it, and every carrier leg is audited. A fenced
    engine dials nothing (`fence`, the engine's lease guard): Fenced, before and after the audit."""

    inner: Any
    settings: DialoutSettings
    audit: AuditSink | None
    purpose: str
    fence: LineGuard = field(default=UNLEASED)

    async def dial(self, endpoint: str, *, caller_id: str | None, timeout: float, cancelled: Any) -> Any:
        self.fence.check(f"dial-out ({self.purpose})")
        leg = parse_carrier_leg(endpoint)
        if leg is not None:
            number, trunk = leg.number, leg.trunk
            try:
                dialled = check(number, self.settings)
            except NumberRefused as exc:
                log.warning("dial-out to %s refused (%s): %s", number, self.purpose, exc.reason)
                await self._audit("dial_refused", number, {"purpose": self.purpose, "reason": exc.reason})
                raise OfferFailed("number_refused") from None
            await self._audit("dial_out", dialled, {"purpose": self.purpose, "trunk": trunk})
            endpoint = carrier_leg(dialled, trunk)
        self.fence.check(f"dial-out ({self.purpose})")  # the audit may have waited long
        return await self.inner.dial(endpoint, caller_id=caller_id, timeout=timeout, cancelled=cancelled)

    async def _audit(self, action: str, number: str, detail: dict[str, Any]) -> None:
        from ivr.tickets.writer import StoreUnavailable

        if self.audit is None:
            return
        try:
            await self.audit(action, number, {**(DIAL_CONTEXT.get() or {}), **detail})
        except Fenced:  # the lease is lost (the writer's Fenced is a StoreUnavailable too): no dial
            raise
        except StoreUnavailable as exc:  # the line keeps working while the database is away
            log.error("dial-out %s to %s (%s) not audited: database unavailable (%s)", action, number, detail, exc)


def store_audit(store: Any, now: Callable[[], datetime], login: str | None = None) -> AuditSink:
    """An audit sink writing through the ticket store (the console's `audit_log`), so the
    dial-out record is kept even when the console is not running; while the database is away
    it waits in the outbox (the soak's outages left every dial of theirs unaudited)."""

    async def write(action: str, number: str, detail: dict[str, Any]) -> None:
        rest = dict(detail)
        who = rest.pop("login", login)
        ticket = rest.pop("ticket", None)
        await store.execute(
            "dialout.audit", at=now(), login=who, action=action, number=number, ticket_id=ticket, detail=rest
        )

    return write


def audit_entry(
    session: Session,
    *,
    at: datetime,
    login: str | None,
    action: str,
    number: str,
    ticket_id: int | None,
    detail: dict[str, Any],
) -> None:
    from ivr.schema.console import AuditEntry

    if ticket_id is not None:  # a provisional id given in an outage is the real one by now
        detail = {**detail, "ticket": ticket_id}
    session.add(
        AuditEntry(at=at, login=login, action=action, object_kind="number", object_id=number[:64], detail=detail)
    )
