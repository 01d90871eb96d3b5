"""The HTML of the public statistics page: a summary, three charts and the data table.

Numbers are written the Italian way (1.234; 82,4%); the table carries a caption and header
scopes so screen readers can navigate it; the period and range are chosen with a plain form.
"""

from __future__ import annotations

from datetime import date
from html import escape
from zoneinfo import ZoneInfo

from ivr.stats.charts import Series, bar_chart
from ivr.stats.citizens import CallbackFigures
from ivr.stats.citizens_public import section
from ivr.stats.levels import LevelRow
from ivr.stats.queries import Period
from ivr.stats.report import Commitment, Figures, Report

MONTHS = ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic")
DAYS = ("lun", "mar", "mer", "gio", "ven", "sab", "dom")
PERIOD_NAMES = {"day": "giorno", "week": "settimana", "month": "mese"}

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fff;line-height:1.45}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:.75rem;padding:0;list-style:none}
.cards li{border:1px solid #c9d3dd;border-radius:.4rem;padding:.6rem .8rem}
.cards strong{display:block;font-size:1.5rem}
.chart{width:100%;height:auto;max-width:48rem}
.grid{stroke:#dde3e9}.axis{font-size:11px;fill:#444}
.offered{fill:#8aa9c7}.answered{fill:#0b5394}.level{fill:#0b5394}.kept{fill:#2e7d32}
.target{stroke:#b3261e;stroke-width:2;stroke-dasharray:6 4}
.target-label{font-size:12px;fill:#b3261e;paint-order:stroke;stroke:#fff;stroke-width:4px}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem}
caption{text-align:left;padding:.25rem 0}
th,td{border:1px solid #c9d3dd;padding:.25rem .45rem;text-align:right;white-space:nowrap}
th[scope=row],thead th{text-align:left;background:#f0f4f8}
tfoot td,tfoot th{font-weight:bold}
form{display:flex;flex-wrap:wrap;gap:.75rem;align-items:end}
label{display:flex;flex-direction:column;font-size:.9rem}
"""


def _int(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}".replace(".", ",") + "%"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}".replace(".", ",")


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} s"


def short_label(start: date, period: Period) -> str:
    if period == "month":
        return f"{MONTHS[start.month - 1]} {start.year}"
    if period == "week":
        return f"S{start.isocalendar()[1]} {start.year}"
    return f"{start.day} {MONTHS[start.month - 1]}"


def long_label(start: date, period: Period) -> str:
    if period == "month":
        return f"{MONTHS[start.month - 1]} {start.year}"
    if period == "week":
        return f"settimana dal {start.day} {MONTHS[start.month - 1]} {start.year}"
    return f"{DAYS[start.weekday()]} {start.day} {MONTHS[start.month - 1]} {start.year}"


def _kept(c: Commitment) -> str:
    return f"{_pct(c.compliance)} ({_int(c.in_time)} su {_int(c.in_time + c.late)})"


def _summary(total: Figures, sl_s: float) -> str:
    satisfaction = total.survey.get("satisfaction")
    solved = total.survey.get("solved")
    cards = [
        ("Chiamate ricevute", _int(total.offered), f"{_int(total.in_hours)} in orario di servizio"),
        ("Chiamate con risposta", _int(total.answered), f"su {_int(total.admitted)} ammesse in coda"),
        (f"Risposta entro {sl_s:g} secondi", _pct(total.service_level), "delle chiamate ammesse in coda"),
        ("Richiamate entro 10 giorni", _pct(total.callbacks.compliance), f"obiettivo {_pct(total.callbacks.target)}"),
        (
            "Risposte web entro 48 ore",
            _pct(total.web_replies.compliance),
            f"obiettivo {_pct(total.web_replies.target)}",
        ),
        (
            "Soddisfazione (1-5)",
            _num(satisfaction.average if satisfaction else None, 2),
            f"problema risolto: {_pct(solved.yes_share if solved else None)}",
        ),
    ]
    items = "".join(f"<li>{escape(t)}<strong>{escape(v)}</strong>{escape(n)}</li>" for t, v, n in cards)
    return f'<ul class="cards">{items}</ul>'


def _charts(report: Report) -> str:
    p = report.scope.period
    labels = [short_label(r.period, p) for r in report.rows if r.period is not None]
    figures = [r.figures for r in report.rows]
    per = PERIOD_NAMES[p]
    calls = bar_chart(
        "grafico-chiamate",
        f"Chiamate ricevute e con risposta per {per}",
        "Barre affiancate per ogni periodo: chiamate ricevute e chiamate con risposta di un operatore.",
        labels,
        [
            Series("ricevute", [f.offered for f in figures], "offered"),
            Series("con risposta", [f.answered for f in figures], "answered"),
        ],
    )
    level = bar_chart(
        "grafico-livello",
        f"Livello di servizio per {per}",
        f"Quota di chiamate ammesse in coda con risposta entro {report.scope.service_level_s:g} secondi.",
        labels,
        [Series("livello di servizio", [f.service_level for f in figures], "level")],
        percent=True,
    )
    callbacks = bar_chart(
        "grafico-richiamate",
        f"Richiamate entro 10 giorni per {per}, con l'obiettivo",
        "Quota di richiamate di secondo livello fatte entro 10 giorni; la linea tratteggiata è l'obiettivo dell'80%.",
        labels,
        [Series("nei tempi", [f.callbacks.compliance for f in figures], "kept")],
        percent=True,
        target=report.total.callbacks.target,
        target_label=f"obiettivo {_pct(report.total.callbacks.target)}",
    )
    web = bar_chart(
        "grafico-web",
        f"Risposte alle richieste web entro 48 ore per {per}, con l'obiettivo",
        "Quota di richieste web con risposta entro 48 ore; la linea tratteggiata è l'obiettivo del 90%.",
        labels,
        [Series("nei tempi", [f.web_replies.compliance for f in figures], "kept")],
        percent=True,
        target=report.total.web_replies.target,
        target_label=f"obiettivo {_pct(report.total.web_replies.target)}",
    )
    return (
        f"<h2>Chiamate</h2>{calls}<h2>Livello di servizio</h2>{level}"
        f"<h2>Impegni della Carta dei servizi</h2><h3>Richiamate entro 10 giorni</h3>{callbacks}"
        f"<h3>Risposte alle richieste web entro 48 ore</h3>{web}"
    )


HEADERS = (
    "Periodo", "Chiamate ricevute", "In orario", "Fuori orario o festivi", "Ammesse in coda", "Con risposta",
    "Abbandonate in attesa", "Oltre il limite giornaliero", "Nessun operatore", "Livello di servizio",
    "Attesa media", "Durata media", "Messaggi in segreteria", "Richiamate nei tempi", "Richiamate in ritardo",
    "Richiamate in corso", "Richieste web", "Risposte web nei tempi", "Risposte web in ritardo",
    "Questionari compilati", "Soddisfazione media", "Problema risolto",
)  # fmt: skip


def _cells(f: Figures) -> list[str]:
    satisfaction, solved = f.survey.get("satisfaction"), f.survey.get("solved")
    return [
        _int(f.offered), _int(f.in_hours), _int(f.closed_hours), _int(f.admitted), _int(f.answered),
        _int(f.abandoned), _int(f.cap_hits), _int(f.no_operators), _pct(f.service_level), _secs(f.asa_s),
        _secs(f.aht_s), _int(sum(f.voicemail.values())), _kept(f.callbacks), _int(f.callbacks.late),
        _int(f.callbacks.pending), _int(f.web_requests), _kept(f.web_replies), _int(f.web_replies.late),
        _int(f.survey_responses), _num(satisfaction.average if satisfaction else None, 2),
        _pct(solved.yes_share if solved else None),
    ]  # fmt: skip


def _table(report: Report) -> str:
    p = report.scope.period
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in HEADERS)
    body = "".join(
        f'<tr><th scope="row">{escape(long_label(r.period, p))}</th>'
        + "".join(f"<td>{escape(c)}</td>" for c in _cells(r.figures))
        + "</tr>"
        for r in report.rows
        if r.period is not None
    )
    foot = '<tr><th scope="row">Totale</th>' + "".join(f"<td>{escape(c)}</td>" for c in _cells(report.total)) + "</tr>"
    caption = (
        f"Dati per {PERIOD_NAMES[p]} dal {report.scope.start:%d/%m/%Y} al {report.scope.end:%d/%m/%Y}; "
        "gli impegni sono attribuiti al periodo in cui è arrivata la richiesta."
    )
    return (
        f"{_scrolled(caption)}<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody><tfoot>{foot}</tfoot></table></div>"
    )


def _scrolled(caption: str) -> str:
    """The opening of a table's horizontal scroller, reachable by keyboard and named (WCAG 2.1.1:
    a region that scrolls must take the focus, or its far columns are out of a keyboard's reach)."""
    return f'<div class="table-wrap" tabindex="0" role="region" aria-label="{escape(caption)}">'


LEVEL_NAMES = {
    ("phone", 1): "Telefono, primo livello (risposta immediata)",
    ("phone", 2): "Telefono, secondo livello (richiamata entro 10 giorni)",
    ("web", 1): "Web, primo livello (risposta entro 48 ore)",
    ("web", 2): "Web, secondo livello (risposta per e-mail entro 10 giorni)",
}
LEVEL_HEADERS = ("Canale e livello", "Richieste", "Nei tempi", "In ritardo", "Aperte", "Scadute", "Quota nei tempi",
                 "Obiettivo")  # fmt: skip


def level_table(row: LevelRow | None, caption: str) -> str:
    """The four channel-and-level lines of one period (or the whole range), as an HTML table."""
    if row is None:
        return ""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in LEVEL_HEADERS)
    body = "".join(
        f'<tr><th scope="row">{escape(LEVEL_NAMES[(f.channel, f.level)])}</th><td>{_int(f.count)}</td>'
        f"<td>{_int(f.in_time)}</td><td>{_int(f.late)}</td><td>{_int(f.open)}</td><td>{_int(f.overdue)}</td>"
        f"<td>{_pct(f.in_time_share)}</td><td>{_pct(f.target) if f.target is not None else 'immediata'}</td></tr>"
        for f in row.figures
    )
    return (
        f'{_scrolled(caption)}<table class="levels"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _form(report: Report) -> str:
    s = report.scope
    options = "".join(
        f'<option value="{w}"{" selected" if k == s.period else ""}>{w}</option>' for k, w in PERIOD_NAMES.items()
    )
    return (
        '<form method="get" action="/statistiche">'
        f'<label>Periodo<select name="periodo">{options}</select></label>'
        f'<label>Dal<input type="date" name="da" value="{s.start.isoformat()}"></label>'
        f'<label>Al<input type="date" name="a" value="{s.end.isoformat()}"></label>'
        '<button type="submit">Aggiorna</button></form>'
    )


def render_page(
    report: Report,
    params: str,
    service_name: str,
    tz: ZoneInfo,
    *,
    citizens: CallbackFigures | None = None,
    extra: str = "",
) -> str:
    """The public page; `extra`: sections of other reports, already escaped (the reasons)."""
    s = report.scope
    name = escape(service_name)
    return f"""<!doctype html>
<html lang="it">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Statistiche - {name}</title><style>{STYLE}</style></head>
<body><main>
<h1>Statistiche del servizio «{name}»</h1>
<p>Dati dal {s.start:%d/%m/%Y} al {s.end:%d/%m/%Y}, aggiornati al {s.now.astimezone(tz):%d/%m/%Y alle %H:%M}.
I dati sono aggregati e non contengono informazioni personali.</p>
{_form(report)}
<h2>In sintesi</h2>
{_summary(report.total, s.service_level_s)}
<h2>Primo e secondo livello</h2>
<p>Il primo livello risponde subito al telefono, o entro 48 ore alle richieste web; le richieste che
hanno bisogno di un approfondimento passano al secondo livello, che risponde entro 10 giorni.</p>
{level_table(report.levels_of(None), "Richieste per canale e livello nel periodo scelto")}
{_charts(report)}
{"" if citizens is None else section(citizens)}
{extra}
<h2>Tabella dei dati</h2>
{_table(report)}
<p>Scarica i dati: <a href="/statistiche.csv?{escape(params)}">CSV</a> ·
<a href="/statistiche.json?{escape(params)}">JSON</a>.</p>
</main></body></html>
"""
