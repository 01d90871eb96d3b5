"""The composition root (ivr.assembly): the engine, its console and the command line take their
parts from one Assembly, and each part is built once."""

from __future__ import annotations

import ast
from pathlib import Path

from ivr.app import build_engine
from ivr.assembly import Assembly
from tests.console_support import lab_settings

PACKAGE = Path(__file__).resolve().parents[2] / "ivr"
# The composition root and the engine's wiring know how parts are made; nothing else does.
MAY_IMPORT_FACTORIES = {"assembly.py", "app.py"}


def _imports_factories(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "ivr.factories":
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "ivr" and any(a.name == "factories" for a in node.names):
            return True
        if isinstance(node, ast.Import) and any(a.name == "ivr.factories" for a in node.names):
            return True
    return False


def test_only_the_composition_root_knows_how_parts_are_made() -> None:
    found = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if _imports_factories(p)}
    assert found == MAY_IMPORT_FACTORIES


def test_a_part_asked_for_twice_is_the_same(tmp_path: Path) -> None:
    parts = Assembly(lab_settings(tmp_path))
    for name in ("clock", "calendar", "prompts", "language_prompts", "languages", "flow", "ari", "ami"):
        assert getattr(parts, name) is getattr(parts, name), name
    for name in ("dialler", "bridging", "mailer", "store", "closures", "desk_phones"):
        assert getattr(parts, name) is getattr(parts, name), name
    assert parts.ari.guard is parts.guard and parts.mailer.guard is parts.guard


def test_the_engine_and_its_console_share_every_part(tmp_path: Path) -> None:
    """Before, the console built its own dialler and bridges for callbacks and its own mailer for
    referrals: two of each, and the same action going two ways."""
    engine = build_engine(lab_settings(tmp_path))
    assert engine.http is not None
    console = engine.http.console
    queue_dialler = engine.distributor.offerer.inner.inner  # ConfirmingOfferer -> DialGuard -> dialler
    assert console.callbacks.offerer.inner is queue_dialler
    assert engine.callbacks.dialer.inner is queue_dialler
    assert console.callbacks.bridging is engine.callbacks.bridging
    assert console.referrals.mailer is engine.web_requests.mailer
    assert console.requests is engine.web_requests
    assert console.desks is engine.operator_sync.desks
    assert console.missed is engine.missed and console.messages is engine.voicemail.messages
    assert console.closures.closures is engine.closures
    assert console.callbacks.offerer.fence is engine.guard is engine.ari.guard
