"""The referral directory and the referrals made, as an async repository on the ticket store.

A referral is a first-level answer: the ticket takes the `referred` status, the details given
are kept on the referral row as they were told, and the timeline says where the citizen was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session, selectinload

from ivr.referrals.csvfile import OfficeRow
from ivr.referrals.names import CPI, KINDS, REGIONAL, fold, province_name, provinces_matching, provinces_near
from ivr.schema.referrals import Office, OfficeComune, Referral
from ivr.schema.tickets import Ticket, TicketEvent
from ivr.tickets import events
from ivr.tickets.audit import Audited
from ivr.tickets.repository import Database, Repository
from ivr.tickets.status import PASSED_ON, TicketStatus, answer_first_level, passed_on
from ivr.typos import Vocabulary

MIN_QUERY = 2
PREFIX_FROM = 3  # letters from which a comune's name is matched by its beginning


class ReferralError(ValueError):
    """A referral that cannot be made (no such office, a ticket that is not the operator's...)."""


@dataclass(frozen=True)
class OfficeView(OfficeRow):
    """An office as stored: the file's fields, its id, and in a search what matched."""

    id: int = 0
    why: str | None = None

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def province_name(self) -> str | None:
        return province_name(self.province)

    def details(self) -> dict[str, Any]:
        """What the citizen is given: kept on the referral as it was said."""
        return {
            "code": self.code, "kind": self.kind, "kind_label": self.kind_label, "name": self.name,
            "address": self.address, "hours": self.hours, "phone": self.phone, "email": self.email, "web": self.web,
        }  # fmt: skip

    @classmethod
    def of(cls, row: Office, why: str | None = None) -> OfficeView:
        return cls(
            row.code, row.kind, row.name, row.region, row.province, tuple(c.name for c in row.comuni),
            row.address, row.hours, row.phone, row.email, row.web, row.active, row.source, id=row.id, why=why,
        )  # fmt: skip


@dataclass(frozen=True)
class ReferralView:
    id: int
    ticket_id: int
    office_id: int | None
    office_kind: str
    office_code: str
    office_name: str
    at: datetime
    by_login: str | None
    note: str | None
    details: dict[str, Any]
    emailed_to: str | None
    emailed_at: datetime | None

    @classmethod
    def of(cls, r: Referral) -> ReferralView:
        return cls(r.id, r.ticket_id, r.office_id, r.office_kind, r.office_code, r.office_name, r.at, r.by_login,
                   r.note, dict(r.details), r.emailed_to, r.emailed_at)  # fmt: skip


@dataclass(frozen=True)
class Imported:
    added: int
    updated: int


def _with_comuni() -> Any:
    return selectinload(Office.comuni)


def _upsert(session: Session, rows: list[OfficeRow], at: datetime) -> Imported:
    existing = {o.code: o for o in session.scalars(select(Office).where(Office.code.in_([r.code for r in rows])))}
    added = updated = 0
    for r in rows:
        office = existing.get(r.code)
        if office is None:
            office = Office(code=r.code)
            session.add(office)
            added += 1
        else:
            session.execute(delete(OfficeComune).where(OfficeComune.office_id == office.id))
            updated += 1
        office.kind, office.name, office.region, office.province = r.kind, r.name, r.region, r.province
        office.address, office.hours, office.phone, office.email = r.address, r.hours, r.phone, r.email
        office.web, office.active, office.source, office.updated_at = r.web, r.active, r.source, at
        session.flush()
        session.add_all(OfficeComune(office_id=office.id, name=c, key=fold(c)) for c in r.comuni)
    return Imported(added, updated)


def _search(
    session: Session, query: str, limit: int, active_only: bool, near: Callable[[str], list[str]] | None = None
) -> list[OfficeView]:
    """Offices serving a comune whose folded name starts with the query; then those of the
    provinces it names (sigla or name); then by office name; then the regional agencies of the
    regions found, which the operator may name too. A query that names no comune nor province
    as typed is read again as a typo of one (`near`: the comuni's folded names within an edit or
    two, `ivr.typos`): an operator types what a caller says, fast ("Milnao", "Regio Emila")."""
    key = fold(query)
    sigle = provinces_matching(query)
    if len(key) < MIN_QUERY and not sigle:
        return []
    found: dict[int, OfficeView] = {}

    def take(rows: Any, why: Any) -> None:
        for office in rows:
            if len(found) < limit and office.id not in found and (office.active or not active_only):
                found[office.id] = OfficeView.of(office, why(office))

    base = select(Office).options(_with_comuni()).order_by(Office.kind != CPI, Office.name)
    if len(key) >= MIN_QUERY:
        # Two letters name a comune only exactly (Re, Ne): as a prefix they would match hundreds.
        match = OfficeComune.key.like(f"{key}%") if len(key) >= PREFIX_FROM else OfficeComune.key == key
        hits = session.execute(select(OfficeComune.office_id, OfficeComune.name, OfficeComune.key).where(match)).all()
        typed = ""
        if not hits and near is not None and (spelled := near(key)):
            hits = session.execute(
                select(OfficeComune.office_id, OfficeComune.name, OfficeComune.key).where(OfficeComune.key.in_(spelled))
            ).all()
            typed = f" (scritto «{query.strip()}»)"
        served: dict[int, str] = {}
        for office_id, name, _key in sorted(hits, key=lambda h: (h[2] != key, len(h[2]))):
            served.setdefault(office_id, name)  # the exact name, else the shortest that starts so
        take(session.scalars(base.where(Office.id.in_(served))), lambda o: f"serve il comune di {served[o.id]}{typed}")
    if not sigle and not found:  # no comune, as typed or mistyped: perhaps a province mistyped
        sigle = provinces_near(query)
    if sigle:
        take(session.scalars(base.where(Office.province.in_(sigle))),
             lambda o: f"provincia di {province_name(o.province)} ({o.province})")  # fmt: skip
    words = [w for w in key.split() if len(w) >= PREFIX_FROM]
    if words:
        named = base.where(and_(*(Office.name.ilike(f"%{w}%") for w in words)))
        take(session.scalars(named), lambda o: "nome dell'ufficio")
    regions = {v.region for v in found.values() if v.region}
    if regions:
        agencies = base.where(Office.kind == REGIONAL, Office.region.in_(regions))
        take(session.scalars(agencies), lambda o: f"agenzia della regione {o.region}")
    return list(found.values())


class Referrals(Repository):
    refusals = (ReferralError,)

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._vocabulary: tuple[tuple[int, datetime | None], Vocabulary] | None = None

    async def import_rows(self, rows: list[OfficeRow], at: datetime) -> Imported:
        """Upsert by code in one transaction: the whole file or nothing."""
        return await self._write(lambda s: _upsert(s, rows, at))

    async def search(self, query: str, *, limit: int = 30, active_only: bool = True) -> list[OfficeView]:
        comuni = await self._comuni()
        return await self._read(lambda s: _search(s, query, limit, active_only, comuni.near))

    async def _comuni(self) -> Vocabulary:
        """The comuni's folded names for typo lookups, read again only after an import changed
        the directory."""

        def generation(session: Session) -> tuple[int, datetime | None]:
            count = session.scalar(select(func.count()).select_from(OfficeComune))
            return int(count or 0), session.scalar(select(func.max(Office.updated_at)))

        current = await self._read(generation)
        if self._vocabulary is None or self._vocabulary[0] != current:
            keys = await self._read(lambda s: set(s.scalars(select(OfficeComune.key).distinct())))
            self._vocabulary = (current, Vocabulary(keys))
        return self._vocabulary[1]

    async def get(self, office_id: int) -> OfficeView | None:
        def fn(session: Session) -> OfficeView | None:
            row = session.scalar(select(Office).where(Office.id == office_id).options(_with_comuni()))
            return None if row is None else OfficeView.of(row)

        return await self._read(fn)

    async def offices(
        self, *, region: str | None = None, province: str | None = None, active_only: bool = False, limit: int = 2000
    ) -> list[OfficeView]:
        def fn(session: Session) -> list[OfficeView]:
            query = select(Office).options(_with_comuni())
            if region:
                query = query.where(Office.region == region)
            if province:
                query = query.where(Office.province == province.upper())
            if active_only:
                query = query.where(Office.active.is_(True))
            rows = session.scalars(
                query.order_by(Office.region, Office.province, Office.kind, Office.name).limit(limit)
            )
            return [OfficeView.of(r) for r in rows]

        return await self._read(fn)

    async def regions(self) -> list[str]:
        def fn(session: Session) -> list[str]:
            rows = session.scalars(select(Office.region).where(Office.region.is_not(None)).distinct())
            return sorted(r for r in rows if r)

        return await self._read(fn)

    async def refer(
        self,
        ticket_id: int,
        office_id: int,
        *,
        operator_id: int | None,
        by: str | None,
        note: str | None,
        at: datetime,
        audited: Audited | None = None,
    ) -> ReferralView:
        """The outcome `referred`: the ticket answered at the first level, the office's details as
        given kept on a referral row, and the timeline told (outcome, then where). `audited`: the
        filing's audit entry, written in the same transaction (with the office's code)."""

        def op(session: Session) -> ReferralView:
            ticket = session.get(Ticket, self._real(ticket_id))
            if ticket is None:
                raise ReferralError(f"nessuna pratica #{ticket_id}")
            if operator_id is not None and ticket.operator_id not in (None, operator_id):
                raise ReferralError(f"la pratica #{ticket_id} è di un altro operatore")
            if operator_id is not None and passed_on(session, ticket):
                raise ReferralError(PASSED_ON)
            if ticket.level == 2:
                raise ReferralError(f"la pratica #{ticket_id} è già al secondo livello")
            office = session.scalar(select(Office).where(Office.id == office_id).options(_with_comuni()))
            if office is None or not office.active:
                raise ReferralError("ufficio non trovato o non più attivo")
            view = OfficeView.of(office)
            answer_first_level(ticket, TicketStatus.REFERRED)
            if note:
                ticket.resolution_note = note
            referral = Referral(
                ticket_id=ticket.id, office_id=office.id, office_kind=office.kind, office_code=office.code,
                office_name=office.name, at=at, operator_id=operator_id, by_login=by, note=note,
                details=view.details(),
            )  # fmt: skip
            session.add(referral)
            session.flush()
            filed = events.outcome_filed(TicketStatus.REFERRED.value, operator_id)
            session.add(TicketEvent(ticket_id=ticket.id, at=at, kind=filed.kind, detail=filed.detail, note=note))
            event = events.referred(referral.id, office.code, office.kind, office.name)
            session.add(TicketEvent(ticket_id=ticket.id, at=at, kind=event.kind, detail=event.detail))
            if audited is not None:
                session.add(audited.row(at, "ticket", ticket.id, office=office.code))
            return ReferralView.of(referral)

        return await self._write(op)

    async def sending(self, referral_id: int, at: datetime) -> None:
        """The e-mail's intent, before the send (ivr.tickets.events.mail_sending): an engine
        stopped between the send and `mailed` leaves "perhaps sent" on the timeline."""

        def op(session: Session) -> None:
            referral = session.get(Referral, referral_id)
            if referral is None:
                raise ReferralError(f"nessun invio #{referral_id}")
            event = events.mail_sending(events.EventKind.MAIL_REFERRAL)
            detail = {"referral": referral_id, **(event.detail or {})}
            session.add(TicketEvent(ticket_id=referral.ticket_id, at=at, kind=event.kind, detail=detail))

        await self._write(op)

    async def mailed(self, referral_id: int, to: str, at: datetime, *, sent: bool, held: str | None = None) -> None:
        """The e-mail's fate on the timeline; the address on the referral row, only once sent."""

        def op(session: Session) -> None:
            referral = session.get(Referral, referral_id)
            if referral is None:
                raise ReferralError(f"nessun invio #{referral_id}")
            if sent:
                referral.emailed_to, referral.emailed_at = to, at
            event = events.mail_referral(referral_id, sent, held)
            session.add(TicketEvent(ticket_id=referral.ticket_id, at=at, kind=event.kind, detail=event.detail))

        await self._write(op)

    async def of_ticket(self, ticket_id: int) -> list[ReferralView]:
        def fn(session: Session) -> list[ReferralView]:
            rows = session.scalars(select(Referral).where(Referral.ticket_id == ticket_id).order_by(Referral.id))
            return [ReferralView.of(r) for r in rows]

        return await self._read(fn)
