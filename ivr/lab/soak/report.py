"""The soak's report, written beside the run: `report.md` for people, `report.json` for machines
(the same facts), and `resources.svg`, the engine's resource curves.

The chart is hand-written SVG (no plotting dependency on the line's machine): one polyline per
series, each scaled to its own maximum, since bytes and counts share no axis; the legend gives
each series' range.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ivr.lab.soak.checker import exit_status
from ivr.lab.soak.evidence import SERIES, ResourceSample, SoakEvidence
from ivr.lab.soak.verdict import CheckResult

WIDTH, HEIGHT, MARGIN, TOP = 800, 360, 40, 72  # TOP: room for the legend above the plot
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
MAX_LISTED = 50  # violations listed per check in the Markdown; the JSON has them all


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path
    chart: Path


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def latency_table(latency: dict[str, list[float]]) -> dict[str, dict[str, float | int]]:
    return {
        step: {"count": len(v), "p50_s": percentile(v, 0.50), "p99_s": percentile(v, 0.99)}
        for step, v in sorted(latency.items())
        if v
    }


def summary(evidence: SoakEvidence, results: list[CheckResult]) -> dict[str, Any]:
    journeys = Counter(c.journey for c in evidence.journal)
    return {
        "passed": exit_status(results) == 0,
        "calls": len(evidence.journal),
        "calls_per_journey": dict(sorted(journeys.items())),
        "faults": [{"at": f.at.isoformat(), "name": f.name, "detail": f.detail} for f in evidence.faults],
        "checks": [r.as_dict() for r in results],
        "latency": latency_table(evidence.latency),
        "resources": {"samples": len(evidence.resources), "chart": "resources.svg"},
    }


def _markdown(data: dict[str, Any]) -> str:
    lines = [
        "# Soak report",
        "",
        f"**{'PASSED' if data['passed'] else 'FAILED'}**: {data['calls']} calls, {len(data['faults'])} faults, "
        f"{sum(len(c['violations']) for c in data['checks'])} violations.",
        "",
        "## Calls per journey",
        "",
        "| journey | calls |",
        "|---|---:|",
        *(f"| {name} | {n} |" for name, n in data["calls_per_journey"].items()),
        "",
        "## Faults",
        "",
    ]
    lines += [f"- {f['at']} **{f['name']}** {f['detail']}".rstrip() for f in data["faults"]] or ["none"]
    lines += ["", "## Invariants", "", "| check | result | violations |", "|---|---|---:|"]
    for c in data["checks"]:
        lines.append(f"| {c['title']} | {'ok' if c['passed'] else 'FAILED'} | {len(c['violations'])} |")
    for c in data["checks"]:
        if c["passed"] and not c["notes"]:
            continue
        lines += ["", f"### {c['name']}", ""]
        lines += [f"_{note}_" for note in c["notes"]]
        for v in c["violations"][:MAX_LISTED]:
            who = ", ".join([*(f"ticket {t}" for t in v["tickets"]), *(f"caller {n}" for n in v["callers"])])
            lines.append(f"- {v['detail']}" + (f" ({who})" if who else ""))
        if len(c["violations"]) > MAX_LISTED:
            lines.append(f"- ... and {len(c['violations']) - MAX_LISTED} more (report.json)")
    lines += ["", "## Latency per step", ""]
    if data["latency"]:
        lines += ["| step | count | p50 (s) | p99 (s) |", "|---|---:|---:|---:|"]
        lines += [f"| {s} | {v['count']} | {v['p50_s']:.3f} | {v['p99_s']:.3f} |" for s, v in data["latency"].items()]
    else:
        lines.append("no samples")
    lines += ["", "## Resources", "", f"{data['resources']['samples']} samples.", "", "![resources](resources.svg)", ""]
    return "\n".join(lines)


def resources_svg(samples: list[ResourceSample]) -> str:
    ordered = sorted(samples, key=lambda s: s.at)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{TOP}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
    ]
    if ordered:
        t0 = ordered[0].at
        span = max((ordered[-1].at - t0).total_seconds(), 1.0)
        plot_w, plot_h = WIDTH - 2 * MARGIN, HEIGHT - MARGIN - TOP
        for i, name in enumerate(SERIES):
            values = [float(getattr(s, name)) for s in ordered]
            top = max(values) or 1.0
            points = " ".join(
                f"{MARGIN + plot_w * (s.at - t0).total_seconds() / span:.1f},{HEIGHT - MARGIN - plot_h * v / top:.1f}"
                for s, v in zip(ordered, values, strict=True)
            )
            colour = COLOURS[i % len(COLOURS)]
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
            unit, scale = (" MiB", 1 << 20) if name == "rss_bytes" else ("", 1)
            label = escape(f"{name}: {min(values) / scale:.4g} .. {max(values) / scale:.4g}{unit} (0 .. max)")
            parts.append(f'<text x="{MARGIN + 10}" y="{16 + 14 * i}" fill="{colour}">{label}</text>')
        minutes = escape(f"{span / 60:.0f} min from {t0:%Y-%m-%d %H:%M} UTC")
        parts.append(f'<text x="{WIDTH - MARGIN}" y="{HEIGHT - 12}" text-anchor="end">{minutes}</text>')
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no samples</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_report(run_dir: Path, evidence: SoakEvidence, results: list[CheckResult]) -> ReportFiles:
    data = summary(evidence, results)
    files = ReportFiles(run_dir / "report.md", run_dir / "report.json", run_dir / "resources.svg")
    run_dir.mkdir(parents=True, exist_ok=True)
    files.json.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    files.markdown.write_text(_markdown(data), encoding="utf-8")
    files.chart.write_text(resources_svg(evidence.resources), encoding="utf-8")
    return files
