"""Where the suite's time goes: per test file, from the JUnit files `scripts/test` writes.

    python scripts/test_times.py [JUNIT ...] [--top 40] [--write-weights tests/file_seconds.json]

Prints each file's tests and seconds (setup and teardown included, as pytest reports them),
the largest first, and the total. `--write-weights` keeps the real-call files' seconds where the
suite reads them to start the longest files first (tests/conftest.py): with several workers, a
two-minute file started last is a two-minute tail.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from xml.etree import ElementTree

DEFAULT = [Path("/tmp/nul-test-times.xml"), Path("/tmp/nul-test-times-unit.xml")]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", nargs="*", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--write-weights", type=Path, help="write the integration and browser files' seconds here")
    args = parser.parse_args(argv)
    files = [f for f in (args.junit or DEFAULT) if f.exists()]
    if not files:
        print(f"no JUnit file at {', '.join(map(str, args.junit or DEFAULT))}: run scripts/test first", file=sys.stderr)
        return 2
    seconds: dict[str, float] = collections.defaultdict(float)
    count: dict[str, int] = collections.Counter()
    for junit in files:
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            name = _file(case.get("classname", ""))
            seconds[name] += float(case.get("time") or 0)
            count[name] += 1
    total = sum(seconds.values())
    for name, spent in sorted(seconds.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{spent:8.1f} s {count[name]:5d} tests  {name}")
    print(f"{total:8.1f} s {sum(count.values()):5d} tests  in all ({len(seconds)} files)")
    if args.write_weights:
        real = {n: round(s) for n, s in sorted(seconds.items()) if not n.startswith("tests/unit/")}
        args.write_weights.write_text(json.dumps(real, indent=1) + "\n")
        print(f"{len(real)} files' seconds written to {args.write_weights}")
    return 0


def _file(classname: str) -> str:
    """`tests.unit.test_x.TestY` -> `tests/unit/test_x.py` (the module, not its class)."""
    parts = classname.split(".")
    last = next((i for i, part in enumerate(parts) if part.startswith("test_")), len(parts) - 1)
    return "/".join(parts[: last + 1]) + ".py"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
