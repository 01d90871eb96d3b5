"""Every write command the code can send (`execute("name", ...)`, and the store's own
`ticket.*`) has its handler in the one table, `ivr.command_table`, installed in a fresh
interpreter that imports nothing else first: a replay can run all it finds in the outbox."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ivr"


def _sent() -> set[str]:
    """The names given to `.execute("...")` and `.post("...")` anywhere in the package, and the
    ticket commands the store sends by name (`Command("ticket.open", ...)`)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("execute", "post", "Command") and "." in first.value:
                names.add(first.value)
    return names


def test_every_command_sent_has_its_handler_in_the_one_table() -> None:
    code = (
        "import json, ivr.command_table as t; from ivr.tickets.commands import COMMANDS; "
        "assert not COMMANDS; t.install(); print(json.dumps(sorted(COMMANDS)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    installed = set(json.loads(out))
    # The scan in a process of its own too: CPython 3.11.7's `ast.parse` is not safe beside another
    # thread parsing (a CI worker failed with "AST constructor recursion depth mismatch").
    scan = "import json; from tests.unit.test_command_table import _sent; print(json.dumps(sorted(_sent())))"
    root = PACKAGE.parent
    sent = set(json.loads(subprocess.run([sys.executable, "-c", scan], capture_output=True, text=True, check=True,
                                         cwd=root).stdout))  # fmt: skip
    assert {"ticket.open", "voicemail.new_message", "cap.add", "survey.answer"} <= sent  # the scan sees them
    assert sent - installed == set()
    assert installed - sent == set(), "a command nobody sends"
