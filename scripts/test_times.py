"""Where the suite's time goes: per test file, from the JUnit file `scripts/test` writes.

    python scripts/test_times.py [/tmp/nul-test-times.xml] [--top 40]

Prints each file's tests and seconds (setup and teardown included, as pytest reports them),
the largest first, and the total; with two workers the wall time is about half the total.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from xml.etree import ElementTree


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", nargs="?", type=Path, default=Path("/tmp/nul-test-times.xml"))
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    seconds: dict[str, float] = collections.defaultdict(float)
    count: dict[str, int] = collections.Counter()
    if not args.junit.exists():
        print(f"no JUnit file at {args.junit}: run scripts/test first", file=sys.stderr)
        return 2
    for case in ElementTree.parse(args.junit).getroot().iter("testcase"):
        name = _file(case.get("classname", ""))
        seconds[name] += float(case.get("time") or 0)
        count[name] += 1
    total = sum(seconds.values())
    for name, spent in sorted(seconds.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{spent:8.1f} s {count[name]:5d} tests  {name}")
    print(f"{total:8.1f} s {sum(count.values()):5d} tests  in all ({len(seconds)} files)")
    return 0


def _file(classname: str) -> str:
    """`tests.unit.test_x.TestY` -> `tests/unit/test_x.py` (the module, not its class)."""
    parts = classname.split(".")
    last = next((i for i, part in enumerate(parts) if part.startswith("test_")), len(parts) - 1)
    return "/".join(parts[: last + 1]) + ".py"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
