"""Tables of the referral directory: the offices, the comuni each serves, and the referrals made.

They share the ticket store's metadata so one Alembic history covers the whole database. A
referral keeps the office's kind, code and name and a snapshot of the details given: what the
citizen was told stays true on the ticket when the directory is updated or an office closes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ivr.schema.base import Base, UtcDateTime


class Office(Base):
    """A Centro per l'impiego, a regional agency or another body of the national network."""

    __tablename__ = "referral_offices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # see ivr.referrals.directory.KINDS
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(String(2))  # sigla; none for national bodies
    address: Mapped[str | None] = mapped_column(String(300))
    hours: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    web: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    comuni: Mapped[list[OfficeComune]] = relationship(
        back_populates="office", order_by="OfficeComune.id", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_referral_offices_province", "province"), Index("ix_referral_offices_region", "region"))


class OfficeComune(Base):
    """A comune an office serves; `key` is its folded name, what a search compares (prefix)."""

    __tablename__ = "referral_office_comuni"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("referral_offices.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128), index=True)

    office: Mapped[Office] = relationship(back_populates="comuni")


class Referral(Base):
    """The line sent the citizen of a ticket to an office: the details given, and the e-mail."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("referral_offices.id", ondelete="SET NULL"))
    office_kind: Mapped[str] = mapped_column(String(24))
    office_code: Mapped[str] = mapped_column(String(32))
    office_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    by_login: Mapped[str | None] = mapped_column(String(64))  # the console user who made it
    note: Mapped[str | None] = mapped_column(Text)  # caller data (retention)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)  # the office as given to the citizen
    emailed_to: Mapped[str | None] = mapped_column(String(254))  # caller data (retention)
    emailed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_referrals_at", "at"), Index("ix_referrals_office_code", "office_code"))
