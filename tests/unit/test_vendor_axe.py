"""The accessibility engine the browser tests run is the file scripts/vendor-axe fetched: its
checksum matches, its licence (MPL-2.0) and version travel with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENDOR = REPO / "tests" / "browser" / "vendor"


def test_the_vendored_axe_matches_its_checksum_licence_and_pinned_version() -> None:
    digest, name = (VENDOR / "axe.min.js.sha256").read_text().split()
    assert name == "axe.min.js"
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest
    assert "Mozilla Public License, version 2.0" in (VENDOR / "axe.LICENSE.txt").read_text()
    head = (VENDOR / name).read_bytes()[:40].decode()
    assert "axe v4.14.1" in head and "AXE=4.14.1" in (REPO / "scripts" / "vendor-axe").read_text()
