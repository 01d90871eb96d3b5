"""The import graph of `ivr/` between its packages and top-level modules, judged against the layers
of ARCHITECTURE.md: how many edges there are, and which run from a lower layer up to a higher one.

    PYTHONPATH=. .venv/bin/python scripts/import_layers.py [--list]

The layer of each unit is written below (the lowest first; the lab tools sit under the command
line that exposes them, and import nothing of it); a unit missing from it is reported,
so a new package has to be placed. Run on two trees to compare (git worktree or a clone).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.test_import_graph import cycles, graph

LAYERS: list[tuple[str, set[str]]] = [
    ("schema", {"schema"}),
    (
        "shared",
        {
            "errors",
            "clock",
            "text",
            "phonemask",
            "csvcells",
            "filemodes",
            "logcontext",
            "version",
            "ratelimit",
            "repeats",
            "subscribers",
            "readability",
            "audio",
            "jobs",
            "tasks",
            "configfile",
            "web",
            "typos",
        },
    ),
    ("config", {"settings", "configref", "config"}),
    ("adapters", {"tickets", "telephony", "asterisk", "prompts", "ha", "apiclient"}),
    (
        "features",
        {
            "callflows",
            "hours",
            "recordings",
            "acd",
            "voicemail",
            "survey",
            "webrequests",
            "stats",
            "privacy",
            "knowledge",
            "referrals",
            "webphone",
            "dialout",
            "alerts",
            "reviews",
            "supervision",
        },
    ),
    ("registry", {"command_table"}),  # the write commands of the features, named in one table
    ("http", {"api", "console"}),
    ("lab", {"lab"}),
    ("wiring", {"assembly", "app", "factories", "cli", "clitools", "commands", "ops", "filemodes", "logsetup"}),
]


def unit(module: str) -> str:
    """The package or top-level module; a package's `config` module is configuration, a data
    model the settings assemble, and counts with it."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[-1] == "config":
        return "config"
    return parts[1] if len(parts) >= 2 else module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print each upward edge and the imports behind it")
    args = parser.parse_args()
    level = {u: i for i, (_, units) in enumerate(LAYERS) for u in units}
    g = graph()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, targets in g.items():
        for t in targets:
            a, b = unit(source), unit(t)
            if a != b:
                edges[(a, b)].append(f"{source} -> {t}")
    units = {u for pair in edges for u in pair}
    unplaced = sorted(u for u in units if u not in level)
    if unplaced:
        print(f"units without a layer: {', '.join(unplaced)}")
        return 2
    upward = {pair: why for pair, why in edges.items() if level[pair[0]] < level[pair[1]]}
    print(f"{len(edges)} edges between {len(units)} units; {len(upward)} run up a layer; {len(cycles(g))} cycles")
    if args.list:
        for (a, b), why in sorted(upward.items()):
            print(f"  {a} ({LAYERS[level[a]][0]}) -> {b} ({LAYERS[level[b]][0]}): {len(why)} import(s), e.g. {why[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
