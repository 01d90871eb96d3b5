"""Where the engine's CPU goes, from a py-spy raw profile (bench/capacity.py --profile).

Each sample's stack is put in the first category whose marker it contains (most specific first),
then the heaviest functions of each category are listed.

    .venv/bin/python bench/profile_summary.py var/bench/.../engine-200/profile.txt
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

# (category, markers): a stack belongs to the first category with one of its markers.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    (
        "ticket store writes (writer thread: SQLAlchemy ORM, SQLite)",
        ("tickets/writer.py", "tickets/store.py:_run_batch"),
    ),
    ("daily cap admission (thread: its own transaction)", ("acd/cap.py",)),
    ("operator sync (thread: reads 400 operators every 2 s)", ("acd/operators.py", "acd/sync.py")),
    ("other DB work in threads", ("concurrent/futures/thread.py",)),
    ("AMI events (panoramisk parsing and dispatch)", ("panoramisk/",)),
    ("ARI event socket (receive, JSON decode, routing)", ("_read_forever", "_on_text", "AriClient.dispatch")),
    ("ARI REST requests (aiohttp client)", ("_request_once", "aiohttp/client")),
    ("call flow and queue logic", ("callflows/", "acd/", "recordings/", "hours/", "survey/", "voicemail/")),
    ("asyncio loop (epoll, scheduling)", ("selectors.py", "asyncio/")),
]


PRODUCT = (
    "tickets", "telephony", "callflows", "acd", "hours", "recordings", "voicemail", "survey", "prompts",
    "console", "api", "webrequests", "privacy", "stats", "bench",
)  # fmt: skip


def _name(frame: str) -> str:
    """`update_ticket (tickets/ticket_commands.py:61)` -> `update_ticket tickets/ticket_commands.py:61`."""
    return frame.replace(" (", " ").rstrip(")")


def category(frames: list[str]) -> str:
    text = ";".join(frames)
    for name, markers in CATEGORIES:
        if any(m in text for m in markers):
            return name
    return "other"


def main() -> None:
    path = Path(sys.argv[1])
    per_cat: Counter[str] = Counter()
    funcs: dict[str, Counter[str]] = defaultdict(Counter)
    total = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        cat = category(frames)
        per_cat[cat] += n
        total += n
        # the deepest frame from the product (or the library frame under it) names the cost
        own = [f for f in frames if any(f"({pkg}/" in f for pkg in PRODUCT)]
        funcs[cat][_name(own[-1] if own else frames[-1]) + "  ..  " + _name(frames[-1])] += n
    print(f"{total} samples")
    for cat, n in per_cat.most_common():
        print(f"{100 * n / total:5.1f}%  {cat}")
        for fn, m in funcs[cat].most_common(4):
            print(f"         {100 * m / total:5.1f}%  {fn}")


if __name__ == "__main__":
    main()
