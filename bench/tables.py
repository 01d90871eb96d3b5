"""Markdown tables from the benchmarks' results.json files (for bench/README.md).

.venv/bin/python bench/tables.py var/bench/run-.../capacity/results.json [tickets/results.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def f(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def capacity(data: dict[str, Any]) -> None:
    print(f"machine: {data['machine']}; tree: {data['commit']}; load before: {data.get('load_before')}")
    print(
        f"idle CPU (% of a core): {data.get('idle_cpu_pct')}; keys at {data.get('keys')}; talk {data.get('talk_ms')} ms"
    )
    print()
    print(
        "| flow | conc. | setups/s | calls | max conc. | failed | INVITE→200 p50/p99 ms | INVITE→audio p50/p99 ms "
        "| ARI p50/p99 ms | loop lag p99 ms | engine CPU ms/call | Asterisk CPU ms/call | engine/Asterisk "
        "| engine RSS MB | SIPp+capture CPU s | load after |"
    )
    print("|" + "---|" * 16)
    for s in data["steps"]:
        lat, ari = s["latency"], s["ari"]
        e, a = s["engine_cpu_ms_per_call"], s["asterisk_cpu_ms_per_call"]
        ratio = f"{e / a:.2f}" if e is not None and a and s["flow"] == "engine" else "-"
        gen = s["sipp_caller_cpu_s"] + s.get("operators_and_capture_cpu_s", 0.0)
        print(
            f"| {s['flow']} | {s['level']} | {s['rate_cps']:.1f} | {s['calls']} | {s['max_concurrent']} "
            f"| {s['failed_calls']} | {f(lat.get('answer_p50_ms'), 1)} / {f(lat.get('answer_p99_ms'), 1)} "
            f"| {f(lat.get('audio_p50_ms'), 1)} / {f(lat.get('audio_p99_ms'), 1)} "
            f"| {f(ari.get('p50_ms'), 2)} / {f(ari.get('p99_ms'), 1)} | {f(s['loop_lag'].get('p99_ms'), 1)} "
            f"| {f(e, 1)} | {f(a, 1)} | {ratio} | {s['engine_rss_mb']:.0f} | {gen:.1f} | {s['load_after'].split()[0]} |"
        )
    print()
    for s in data["steps"]:
        if s["failed_calls"]:
            print(f"- {s['flow']} {s['level']}: sipp {s['sipp_detail']}, tickets {s['tickets'].get('outcomes')}")


def tickets(data: dict[str, Any]) -> None:
    print(f"machine: {data['machine']}; tree: {data['commit']}")
    print()
    print(
        "| backend | profile (writes/call) | concurrent calls | calls | tickets closed/s | writes/s "
        "| write p50/p99 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in data["results"]:
        writes = r["writes"] // max(1, r["calls"])
        print(
            f"| {r['backend']} | {r['profile']} ({writes}) | {r['concurrency']} | {r['calls']} "
            f"| {r['tickets_closed_per_s']:.0f} | {r['writes_per_s']:.0f} "
            f"| {r['op_p50_ms']:.1f} / {r['op_p99_ms']:.1f} |"
        )


def transcription(data: dict[str, Any]) -> None:
    print(f"machine: {data['machine']}; tree: {data['commit']}; model {data['model']}")
    print(f"load {data['load_s']} s; RSS after load {data['rss_mb_after_load']} MB")
    print(f"RTF wall {data['rtf_wall']}, CPU {data['rtf_cpu']}")
    print(f"messages/hour/core (CPU) {data['messages_per_hour_per_core']}, (wall) {data.get('messages_per_hour_wall')}")
    print()
    print("| audio s | wall s | CPU s | RTF (wall) | RTF (CPU) | words |")
    print("|---|---|---|---|---|---|")
    for r in data["rows"]:
        print(f"| {r['audio_s']} | {r['wall_s']} | {r['cpu_s']} | {r['rtf_wall']} | {r['rtf_cpu']} | {r['words']} |")


def main() -> None:
    for arg in sys.argv[1:]:
        data = json.loads(Path(arg).read_text())
        print(f"### {arg}\n")
        if "steps" in data:
            capacity(data)
        elif "results" in data:
            tickets(data)
        elif "rows" in data:
            transcription(data)
        print()


if __name__ == "__main__":
    main()
