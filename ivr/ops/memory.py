"""The engine's heap on glibc: few malloc arenas, and freed pages given back.

glibc gives each thread that allocates an arena of its own, up to eight per core, and an arena
keeps the pages freed in it: the engine's worker threads (the ticket writer, audio conversions,
transcription, the default executor's threads) each grow one at their busiest moment and hold it
from then on. Full run 7 saw an engine's resident size rise 15 % between the first and the last
part of its life while its calls, tasks and open files stayed level. Two arenas, set before the
threads start, and a trim every few minutes keep the resident size close to what is in use.
Elsewhere than glibc both do nothing and say so.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2
TRIM_EVERY_S = 300.0
JOB_ID = "heap-trim"


@functools.cache
def _libc() -> Any | None:
    """Looked up once: finding the library runs `ldconfig -p`, too much for a job every 5 minutes."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At the engine's start, before its threads: True when glibc took the limit."""
    libc = _libc()
    if libc is None:
        log.info("heap: not glibc, malloc arenas left as they are")
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give the pages freed at the top of the heaps back to the system: True when some were."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


async def trim_job() -> None:
    await asyncio.to_thread(trim)  # it walks the heaps under their locks: off the event loop


def schedule_trim(scheduler: Any, every_s: float = TRIM_EVERY_S) -> None:
    scheduler.add_job(trim_job, "interval", seconds=every_s, id=JOB_ID, replace_existing=True)
