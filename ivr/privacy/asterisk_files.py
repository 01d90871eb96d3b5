"""Files Asterisk keeps on its side that hold personal data: audio in its spool and its logs.

The engine fetches each recording from Asterisk's spool as soon as it ends, so whatever is still
there days later was never fetched (an engine stopped at the wrong moment, a full disk) or was
fetched but not removed. It is deleted once older than `retention.spool_audio_days`, unless a
ticket still needs it: a voicemail still waiting to be fetched within its own period, a call
recording within its campaign period that was never kept, or any file of a ticket under a legal
hold. Names say whose the file is (`vm-<ticket>-...`, `call-<ticket>-...`). Ages are the files'
modification times: a recording in progress is written to all the time, so it is always young.

Asterisk's logs are rotated by the daily purge (`rotatestrategy = timestamp` in logger.conf,
ARI `PUT /asterisk/logging/messages.log/rotate`); rotated files older than
`retention.asterisk_logs_days` are deleted, the live ones never.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.privacy.holds import held_tickets
from ivr.schema.tickets import Recording, Ticket, Voicemail

_OURS = re.compile(r"^(?P<kind>vm|call)-(?P<ticket>[0-9]+)-")
_ROTATED = re.compile(r"\.log\.[0-9]+$|\.[0-9]+$")


@dataclass(frozen=True)
class AsteriskDirs:
    """Where the engine's Asterisk keeps its spool's recordings and its logs, as this process
    sees them; None: not on this machine, not purged here."""

    spool: Path | None = None
    logs: Path | None = None


def _older(path: Path, cut: datetime) -> bool:
    return path.stat().st_mtime < cut.timestamp()


def spool_due(session: Session, spool: Path | None, cuts: dict[str, datetime]) -> list[Path]:
    """Audio files in the spool past `spool_audio` that no ticket still needs."""
    if spool is None or not spool.is_dir():
        return []
    candidates = [p for p in sorted(spool.rglob("*")) if p.is_file() and _older(p, cuts["spool_audio"])]
    if not candidates:
        return []
    held = set(session.scalars(held_tickets()))
    return [p for p in candidates if not _needed(session, p, held, cuts)]


def _needed(session: Session, path: Path, held: set[int], cuts: dict[str, datetime]) -> bool:
    found = _OURS.match(path.name)
    if found is None:
        return False  # not the engine's: nothing will ever fetch it
    ticket_id, name = int(found.group("ticket")), path.name.rsplit(".", 1)[0]
    if ticket_id in held:
        return True
    if found.group("kind") == "vm":
        waiting = session.scalar(
            select(Voicemail.id).where(
                Voicemail.asterisk_name == name,
                Voicemail.recording_id.is_(None),
                Voicemail.created_at >= cuts["voicemail_audio"],
            )
        )
        return waiting is not None
    started = session.scalar(select(Ticket.started_at).where(Ticket.id == ticket_id))
    if started is None or started < cuts["recordings"]:
        return False
    kept = session.scalar(
        select(Recording.id).where(
            Recording.ticket_id == ticket_id, Recording.kind == "call", Recording.path.contains(name)
        )
    )
    return kept is None  # never kept: the spool holds the only copy of a campaign's recording


def logs_due(logs: Path | None, cut: datetime) -> list[Path]:
    """Rotated log files older than `cut`; the files Asterisk writes to are never touched."""
    if logs is None or not logs.is_dir():
        return []
    return [p for p in sorted(logs.rglob("*")) if p.is_file() and _ROTATED.search(p.name) and _older(p, cut)]
