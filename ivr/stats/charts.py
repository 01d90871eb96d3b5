"""Bar charts as inline SVG, drawn on the server: the public page needs no script to show them.

Each chart carries a title and a description for screen readers, and every bar its own tooltip;
the same numbers are in the page's data table, which remains the accessible source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 48


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str  # class of the bars, coloured by the page's style sheet


def _number(value: float, percent: bool) -> str:
    if percent:
        return f"{100 * value:.1f}".replace(".", ",") + "%"
    return f"{value:,.0f}".replace(",", ".")


def _ticks(top: float, percent: bool) -> list[float]:
    if percent:
        return [0.0, 0.25, 0.5, 0.75, 1.0]
    if top <= 0:
        return [0.0]
    step = 10 ** max(len(str(int(top))) - 1, 0)
    for factor in (1, 2, 5, 10):
        if top / (step * factor) <= 5:
            step *= factor
            break
    return [step * i for i in range(int(top // step) + 2)]


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    percent: bool = False,
    target: float | None = None,
    target_label: str = "",
) -> str:
    """Grouped bars (one group per period), an optional horizontal target line."""
    values = [v for s in series for v in s.values if v is not None]
    top = 1.0 if percent else max([*values, 1.0])
    ticks = _ticks(top, percent)
    top = max(ticks[-1], top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    out = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
    ]
    for tick in ticks:
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_number(tick, percent)}</text>'
        )
    n = max(len(labels), 1)
    slot = plot_w / n
    bar = max(slot * 0.8 / max(len(series), 1), 1.0)
    every = max(1, round(n / 12))  # at most about twelve labels under the axis
    for i, label in enumerate(labels):
        x0 = LEFT + i * slot + slot * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            if value is None:
                continue
            top_y = y(value)
            out.append(
                f'<rect class="{s.css}" x="{x0 + j * bar:.1f}" y="{top_y:.1f}" width="{max(bar - 1, 0.5):.1f}" '
                f'height="{TOP + plot_h - top_y:.1f}"><title>{escape(label)}: {escape(s.name)} '
                f"{_number(value, percent)}</title></rect>"
            )
        if i % every == 0:
            out.append(
                f'<text class="axis" x="{LEFT + (i + 0.5) * slot:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    if target is not None:
        out.append(
            f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(target):.1f}" y2="{y(target):.1f}"/>'
            f'<text class="target-label" x="{WIDTH - RIGHT}" y="{y(target) - 4:.1f}" text-anchor="end">'
            f"{escape(target_label)}</text>"
        )
    for j, s in enumerate(series):  # legend
        lx = LEFT + j * 190
        out.append(
            f'<rect class="{s.css}" x="{lx}" y="{HEIGHT - 18}" width="12" height="12"/>'
            f'<text class="axis" x="{lx + 16}" y="{HEIGHT - 8}">{escape(s.name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
