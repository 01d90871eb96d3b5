"""What the operator's "Indirizza a" does: record the referral, then e-mail the details if asked.

The referral is in the store before any e-mail is tried, and the e-mail's fate goes on the
timeline. The address is one the operator typed from what the citizen said: it gets the web
requests' safety rules (no line breaks, a plausible address) and their caps per hour and per
recipient, so the desk cannot be used to flood an inbox under the service's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ivr.clock import Clock
from ivr.referrals.mail import referral_text
from ivr.referrals.repository import ReferralError, Referrals, ReferralView
from ivr.tickets.audit import Audited
from ivr.webrequests.channel import ReceiptBudget
from ivr.webrequests.mail import HEADER_UNSAFE, Mailer

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
MAX_EMAIL = 254


@dataclass(frozen=True)
class Referred:
    referral: ReferralView
    mail: str  # none (not asked), sent, failed, held (a cap), off (no mail server configured)


def check_email(value: str | None) -> str | None:
    """The address as typed, or None when none was given; ReferralError when it is not one."""
    if value is None or not value.strip():
        return None
    if HEADER_UNSAFE.search(value):
        raise ReferralError("indirizzo e-mail non valido: contiene a capo o caratteri di controllo")
    address = value.strip()
    if len(address) > MAX_EMAIL or not _EMAIL.match(address):
        raise ReferralError("indirizzo e-mail non valido")
    return address


class ReferralDesk:
    def __init__(self, repo: Referrals, mailer: Mailer, clock: Clock, *, tz: ZoneInfo, service_name: str) -> None:
        self.repo = repo
        self.mailer = mailer
        self.clock = clock
        self.tz = tz
        self.service_name = service_name
        self._budget = ReceiptBudget(mailer.settings)

    async def refer(
        self,
        ticket_id: int,
        office_id: int,
        *,
        operator_id: int | None,
        by: str | None,
        note: str | None,
        email: str | None,
        audited: Audited | None = None,
    ) -> Referred:
        """`audited`: the referral's audit entry, written with it (the e-mail's fate goes on the
        timeline once it is known)."""
        address = check_email(email)  # refused before anything is recorded
        referral = await self.repo.refer(ticket_id, office_id, operator_id=operator_id, by=by, note=note,
                                         at=self.clock.now(), audited=audited)  # fmt: skip
        if address is None:
            return Referred(referral, "none")
        return Referred(referral, await self._mail(referral, address))

    async def _mail(self, referral: ReferralView, address: str) -> str:
        if self.mailer.settings.host is None:
            await self.repo.mailed(referral.id, address, self.clock.now(), sent=False, held="mail.host")
            return "off"
        held = self._budget.take(address, self.clock.now())
        if held is not None:
            await self.repo.mailed(referral.id, address, self.clock.now(), sent=False, held=held)
            return "held"
        subject, body = referral_text(referral.ticket_id, referral.details, self.service_name)
        await self.repo.sending(referral.id, self.clock.now())
        sent = await self.mailer.send(address, subject, body)
        await self.repo.mailed(referral.id, address, self.clock.now(), sent=sent)
        return "sent" if sent else "failed"
