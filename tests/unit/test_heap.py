"""The engine's heap on glibc (ivr.ops.memory): the arena limit and the trim reach the C library."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest

from ivr.ops import memory


def test_glibc_takes_the_arena_limit_and_trims() -> None:
    if memory._libc() is None:
        pytest.skip("not glibc")
    assert memory.limit_arenas(2) is True
    blocks = [ctypes.create_string_buffer(1 << 16) for _ in range(2000)]  # 128 MiB, then freed
    del blocks
    assert memory.trim() is True  # 128 MiB freed at the top of the main heap: pages to give back


def test_elsewhere_nothing_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    memory._libc.cache_clear()  # looked up again, with no C library to find
    try:
        assert memory.limit_arenas() is False and memory.trim() is False
    finally:
        memory._libc.cache_clear()


def test_the_library_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    found: list[str] = []
    real = ctypes.util.find_library

    def counting(name: str) -> str | None:
        found.append(name)
        return real(name)

    monkeypatch.setattr(ctypes.util, "find_library", counting)
    memory._libc.cache_clear()
    try:
        memory.trim()
        memory.trim()
        memory.limit_arenas(2)
        assert found == ["c"]
    finally:
        memory._libc.cache_clear()


def test_the_engine_schedules_the_trim() -> None:
    added: list[tuple[object, str, dict[str, object]]] = []

    class Scheduler:
        def add_job(self, fn: object, trigger: str, **kw: object) -> None:
            added.append((fn, trigger, kw))

    memory.schedule_trim(Scheduler(), every_s=60)
    assert added == [(memory.trim_job, "interval", {"seconds": 60, "id": "heap-trim", "replace_existing": True})]
