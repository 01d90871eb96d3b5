"""The shared offset file a soak moves its engines' date with: read again when it changes, a bad
write keeps the last good offset, a file missing at boot is a config error naming the field, and
production refuses it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from ivr.clock import OffsetFileClock
from ivr.settings import ClockSettings


def _close(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 2


def _write(path: Path, text: str, bump_ns: int) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump_ns))  # a change even within one tick


def test_two_engines_on_one_file_move_together(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    _write(path, "86400", 0)
    a, b = OffsetFileClock(path, recheck_s=0.0), OffsetFileClock(path, recheck_s=0.0)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert _close(a.now(), tomorrow) and _close(b.now(), tomorrow)
    _write(path, str(3 * 86400), 1_000_000)  # the soak's next service day
    in_three_days = datetime.now(UTC) + timedelta(days=3)
    assert _close(a.now(), in_three_days) and _close(b.now(), in_three_days)


def test_a_half_written_or_missing_file_keeps_the_last_good_offset(tmp_path: Path) -> None:
    path = tmp_path / "offset"
    _write(path, "3600", 0)
    clock = OffsetFileClock(path, recheck_s=0.0)
    _write(path, "36", 1_000_000)
    assert _close(clock.now(), datetime.now(UTC) + timedelta(seconds=36))
    _write(path, "", 2_000_000)  # caught half-written
    assert _close(clock.now(), datetime.now(UTC) + timedelta(seconds=36))
    _write(path, "7200", 3_000_000)
    assert _close(clock.now(), datetime.now(UTC) + timedelta(seconds=7200))
    path.unlink()
    assert _close(clock.now(), datetime.now(UTC) + timedelta(seconds=7200))


def test_unreadable_at_boot_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"clock\.offset_file .*missing: No such file"):
        OffsetFileClock(tmp_path / "missing")
    (tmp_path / "bad").write_text("tomorrow")
    with pytest.raises(ValueError, match=r"not a number of seconds: 'tomorrow'"):
        OffsetFileClock(tmp_path / "bad")


def test_one_way_of_moving_the_clock(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"give one of start, offset_s, offset_file, not offset_s and offset_f"):
        ClockSettings(offset_s=5.0, offset_file=tmp_path / "offset")
