"""How plain the line's words are: the Gulpease index (ivr.readability) of the replies sent to
web requests in a period, of the knowledge base's articles in use and of the prompt texts callers
hear, as a distribution by level.

The charter promises answers "in un linguaggio semplice e chiaro"; this measures it. The index is
text analysis, computed here in Python on texts the database hands over (replies of the
period's requests), not an SQL aggregate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.readability import LEVELS, gulpease, level
from ivr.schema.tickets import Ticket, WebRequest

BANDS = (*(name for _, name in LEVELS), "molto difficile")


@dataclass(frozen=True)
class Distribution:
    what: str
    texts: int  # measured (texts without words are left out)
    by_level: dict[str, int]  # facile, medio, difficile, molto difficile
    average: float | None
    lowest: float | None
    below: int  # under the warning threshold
    threshold: float


def distribution(what: str, texts: Iterable[str], threshold: float) -> Distribution:
    return of_indexes(what, (gulpease(t) for t in texts), threshold)


def of_indexes(what: str, measured: Iterable[float | None], threshold: float) -> Distribution:
    """The distribution of indexes computed already (an article's is stored with each version)."""
    indexes = [i for i in measured if i is not None]
    by_level = dict.fromkeys(BANDS, 0)
    for index in indexes:
        by_level[level(index)] += 1
    average = round(sum(indexes) / len(indexes), 1) if indexes else None
    return Distribution(
        what,
        len(indexes),
        by_level,
        average,
        min(indexes, default=None),
        sum(i < threshold for i in indexes),
        threshold,
    )


def replies_sent(start: date, end: date) -> Callable[[Session], list[str]]:
    """The replies to web requests that arrived on the local days `start`..`end`."""

    def run(session: Session) -> list[str]:
        rows = session.scalars(
            select(WebRequest.reply)
            .join(Ticket, Ticket.id == WebRequest.ticket_id)
            .where(WebRequest.reply.is_not(None), Ticket.local_day.between(start, end))
        )
        return [r for r in rows if r]

    return run
