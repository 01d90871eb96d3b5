"""The `ivr` package's modules import each other without a cycle.

Imports under `if TYPE_CHECKING:` count too: they only hide a cycle from the interpreter, the
modules still depend on each other both ways.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ivr"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The `ivr` modules `path` imports, at any depth of the file (functions and TYPE_CHECKING too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from ivr.x import module`
    return {target(m, known) for m in found if m.split(".")[0] == "ivr" and target(m, known)} - {name, ""}


def target(module: str, known: set[str]) -> str:
    """The deepest known module a dotted import names (`ivr.a.b.func` -> `ivr.a.b`)."""
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module


def graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(f) for f in files}
    # a package's __init__ is imported on the way to its modules; it is not an edge of its own
    return {module_name(f): {m for m in imports_of(f, known) if not _is_package(m)} for f in files}


def _is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def describe(component: list[str], edges: dict[str, set[str]]) -> str:
    members = set(component)
    lines = [f"cycle of {len(component)} modules:"]
    lines += [f"  {m} -> {', '.join(sorted(edges[m] & members))}" for m in component]
    return "\n".join(lines)


def graph_apart() -> dict[str, set[str]]:
    """`graph()` read in a process of its own: `ast.parse` beside another thread of the test
    process (a worker thread a console test left) failed with CPython 3.11.7's "AST constructor
    recursion depth mismatch" (seen after the console's page tests, as in the command table's)."""
    import json
    import subprocess
    import sys

    code = (
        f"import json, sys; sys.path.insert(0, {str(PACKAGE.parent)!r}); "
        "from tests.unit.test_import_graph import graph; "
        "print(json.dumps({k: sorted(v) for k, v in graph().items()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {k: set(v) for k, v in json.loads(out).items()}


def test_the_graph_is_read() -> None:
    edges = graph_apart()
    assert "ivr.app" in edges and "ivr.settings" in edges["ivr.app"]


def test_no_import_cycle() -> None:
    edges = graph_apart()
    found = cycles(edges)
    report = "\n".join(describe(c, edges) for c in found)
    print(report or "no import cycle")
    assert not found, report


def test_no_import_runs_up_a_layer() -> None:
    """The layers of ARCHITECTURE.md, as `scripts/import_layers.py` places every package and
    top-level module (a new one must be placed there): no import runs from a lower layer up."""
    import subprocess
    import sys

    script = PACKAGE.parent / "scripts" / "import_layers.py"
    run = subprocess.run([sys.executable, str(script), "--list"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 run up a layer; 0 cycles" in run.stdout, run.stdout
