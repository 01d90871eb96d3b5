"""A review's score from its marks: pure, so the console, the report and the tests agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ivr.reviews.config import Criterion


class ReviewError(ValueError):
    """A review that cannot be kept as given: the message says which mark and why."""


def marks(criteria: Sequence[Criterion], given: Mapping[str, Any], scale: int) -> list[dict[str, Any]]:
    """The form as scored, each criterion with its mark: every criterion marked, 1..scale."""
    unknown = sorted(set(given) - {c.key for c in criteria})
    if unknown:
        raise ReviewError(f"criteri sconosciuti: {', '.join(unknown)}")
    scored = []
    for c in criteria:
        raw = given.get(c.key)
        try:
            mark = int(raw) if raw is not None and str(raw).strip() else None
        except (TypeError, ValueError):
            mark = None
        if mark is None:
            raise ReviewError(f"«{c.label}»: manca il voto")
        if not 1 <= mark <= scale:
            raise ReviewError(f"«{c.label}»: il voto va da 1 a {scale}")
        scored.append({"key": c.key, "label": c.label, "weight": c.weight, "score": mark})
    return scored


def score(scored: Sequence[Mapping[str, Any]], scale: int) -> float:
    """Weighted mean of the marks on 0-100 (1 is 0, `scale` is 100), to one decimal."""
    total = sum(float(s["weight"]) for s in scored)
    if total <= 0:
        raise ReviewError("nessun criterio con un peso")
    points = sum(float(s["weight"]) * (int(s["score"]) - 1) / (scale - 1) for s in scored)
    return round(100 * points / total, 1)
