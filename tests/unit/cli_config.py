"""The configuration file a test of an `ivr` command runs with: the test's own SQLite database,
no secrets file, a fixed clock, and none of the developer's `IVR_` variables."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest


def write_cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: datetime, extra: str = "") -> Path:
    path = tmp_path / "nul.yaml"
    path.write_text(
        f"database:\n  url: sqlite:///{tmp_path / 'nul.db'}\n"
        f"secrets_file: {tmp_path / 'none.yaml'}\n"
        f"clock:\n  start: {now.isoformat()}\n" + extra
    )
    for name in [n for n in os.environ if n.startswith("IVR_")]:
        monkeypatch.delenv(name)
    return path
