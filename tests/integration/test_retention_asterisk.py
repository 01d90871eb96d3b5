"""The daily purge on a real Asterisk: its log is rotated and rotated files past their period go."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from ivr.assembly import Assembly
from ivr.clock import ShiftedClock, SystemClock
from ivr.privacy.asterisk_files import AsteriskDirs
from ivr.privacy.jobs import PrivacyService
from ivr.telephony.ari_resources import AriPbxAdmin
from ivr.tickets.db import make_engine, upgrade
from tests.harness.pbx import PbxPair

ROTATED = re.compile(r"^messages\.log\.[0-9]+$")


async def test_the_purge_rotates_the_asterisk_log_and_deletes_old_rotations(pbx: PbxPair, tmp_path: Path) -> None:
    settings = pbx.settings(tmp_path, {"asterisk": {"ari": {"app": "nul-retention"}}})  # its own Stasis app
    logs = pbx.engine_asterisk.host("log")
    before = {p.name for p in logs.iterdir() if ROTATED.match(p.name)}
    ari = Assembly(settings).ari
    db = make_engine(f"sqlite:///{tmp_path / 'nul.db'}")
    upgrade(db)
    rotate = lambda: AriPbxAdmin(ari).rotate_log("messages.log")  # noqa: E731
    await ari.start()
    try:
        today = PrivacyService(db, settings.retention, SystemClock(), AsteriskDirs(logs=logs), rotate)
        result = await today.purge()
        rotated = {p.name for p in logs.iterdir() if ROTATED.match(p.name)} - before
        assert rotated, "Asterisk did not rotate messages.log"
        assert result.kinds["asterisk_logs"].items == 0  # just rotated: kept
        later = SystemClock().now() + timedelta(days=settings.retention.asterisk_logs_days + 1)
        result = await PrivacyService(db, settings.retention, ShiftedClock(later), AsteriskDirs(logs=logs)).purge()
        assert result.kinds["asterisk_logs"].items >= len(rotated)
        assert not {p.name for p in logs.iterdir() if ROTATED.match(p.name)} & rotated
        assert (logs / "messages.log").exists()  # the live file is never touched
    finally:
        await ari.close()
        db.dispose()
