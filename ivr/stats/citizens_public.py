"""Queued callbacks and languages where the public reads them: a section of `/statistiche`, keys of
`/statistiche.json` and open-data files (`giorni/AAAA-MM-GG-richiamate.csv|json`, and over the
whole span `richiamate.csv|json`). The console showed them; the public page and open data, which
the charter's statistics "for external use" are, did not."""

from __future__ import annotations

import json
from datetime import date
from html import escape
from typing import Any

from ivr.csvcells import write_csv
from ivr.stats.citizens import CallbackFigures

LANGUAGE_NAMES = {"it": "italiano", "en": "inglese"}
COLUMNS = [
    "from",
    "to",
    "offered",
    "accepted",
    "completed",
    "unreachable",
    "escalated",
    "pending",
    "mean_to_callback_s",
]  # fmt: skip  (then calls_<language> for each language)


def as_dict(c: CallbackFigures) -> dict[str, Any]:
    """The JSON keys (and CSV columns): callbacks, then calls per language."""
    return {
        "richiamate": {
            "offerte": c.offered,
            "richieste": c.accepted,
            "completate": c.completed,
            "non_raggiunti": c.unreachable,
            "al_secondo_livello": c.escalated,
            "in_corso": c.pending,
            "attesa_media_s": c.mean_to_callback_s,
        },
        "lingue": dict(sorted(c.languages.items())),
    }


def to_json(c: CallbackFigures, start: date, end: date) -> str:
    return json.dumps({"from": start.isoformat(), "to": end.isoformat(), **as_dict(c)}, ensure_ascii=False, indent=1)


def to_csv(c: CallbackFigures, start: date, end: date) -> str:
    """One row: the range, the callbacks, the calls in each language the line speaks."""
    row: dict[str, Any] = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "offered": c.offered,
        "accepted": c.accepted,
        "completed": c.completed,
        "unreachable": c.unreachable,
        "escalated": c.escalated,
        "pending": c.pending,
        "mean_to_callback_s": c.mean_to_callback_s,
    }
    languages = sorted(set(c.languages) | {"it", "en"})
    columns = [*COLUMNS, *(f"calls_{code}" for code in languages)]
    row.update({f"calls_{code}": c.languages.get(code, 0) for code in languages})
    return write_csv(columns, [row])


def section(c: CallbackFigures) -> str:
    """The public page's section: callbacks offered, asked, done; calls per language."""
    wait = "-" if c.mean_to_callback_s is None else f"{c.mean_to_callback_s / 60:.0f} minuti"
    rows = [
        ("Richiamate offerte a chi attendeva", c.offered),
        ("Richiamate chieste", c.accepted),
        ("Richiamate fatte e concluse con un operatore", c.completed),
        ("Cittadini non raggiunti", c.unreachable),
        ("Passate al secondo livello", c.escalated),
        ("Ancora da fare", c.pending),
    ]
    body = "".join(f'<tr><th scope="row">{escape(label)}</th><td>{n}</td></tr>' for label, n in rows)
    languages = "".join(
        f'<tr><th scope="row">{escape(LANGUAGE_NAMES.get(code, code))}</th><td>{n}</td></tr>'
        for code, n in sorted(c.languages.items())
    )
    return f"""<h2>Richiamate e lingue</h2>
<p>Chi aspetta in coda può chiedere di essere richiamato senza perdere il posto. Attesa media tra la
richiesta e la richiamata: {escape(wait)}.</p>
<table><caption>Richiamate nel periodo scelto</caption><tbody>{body}</tbody></table>
<table><caption>Chiamate per lingua</caption>
<thead><tr><th scope="col">Lingua</th><th scope="col">Chiamate</th></tr></thead><tbody>{languages}</tbody></table>
"""
