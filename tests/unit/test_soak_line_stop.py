"""The soak's line stops every part it started even when one of them fails to stop: full run 4
ended on an exception, the first failing step ended the clean-up, and a PostgreSQL of its own
was found running an hour later."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from bench.soak_line import SoakLine


class _Engine:
    def __init__(self, folder: Path, fails: bool, stopped: list[str]) -> None:
        self.data_dir, self.fails, self.stopped = folder, fails, stopped

    def stop(self) -> None:
        if self.fails:
            raise RuntimeError(f"engine {self.data_dir.name} would not stop")
        self.stopped.append(self.data_dir.name)


class _Postgres:
    def __init__(self, stopped: list[str]) -> None:
        self.stopped = stopped

    def stop(self) -> None:
        self.stopped.append("postgres")


async def test_a_part_that_fails_to_stop_leaves_no_other_running(tmp_path: Path) -> None:
    stopped: list[str] = []
    line = SoakLine(tmp_path, {})
    line.engines = cast(Any, [_Engine(tmp_path / "a", True, stopped), _Engine(tmp_path / "b", False, stopped)])
    line.pg = cast(Any, _Postgres(stopped))

    with pytest.raises(ExceptionGroup) as caught:
        await line.stop()

    assert stopped == ["b", "postgres"]  # the engine after the failing one, and the database
    assert [str(e) for e in caught.value.exceptions] == ["engine a would not stop"]  # not swallowed


async def test_a_line_that_stops_cleanly_raises_nothing(tmp_path: Path) -> None:
    stopped: list[str] = []
    line = SoakLine(tmp_path, {})
    line.engines = cast(Any, [_Engine(tmp_path / "a", False, stopped)])
    line.pg = cast(Any, _Postgres(stopped))

    await line.stop()

    assert stopped == ["a", "postgres"]
