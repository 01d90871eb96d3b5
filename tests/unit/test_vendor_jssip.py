"""The vendored SIP stack of the desk's phone is the file scripts/vendor-jssip built: its
checksum file matches, and its licences travel with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "ivr" / "console" / "static" / "vendor"


def test_the_vendored_jssip_matches_its_checksum() -> None:
    digest, name = (VENDOR / "jssip.min.js.sha256").read_text().split()
    assert name == "jssip.min.js"
    assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest


def test_the_vendored_jssip_carries_its_licences_and_version() -> None:
    licences = (VENDOR / "jssip.LICENSE.txt").read_text()
    for package in ("jssip", "debug", "ms", "events", "sdp-transform"):
        assert f"==== {package} " in licences
    assert "MIT" in licences
    head = (VENDOR / "jssip.min.js").read_bytes()[:200].decode()
    assert "JsSIP 3.13.8" in head
    pinned = (VENDOR.parents[3] / "scripts" / "vendor-jssip").read_text()
    assert "JSSIP=3.13.8" in pinned
