"""The engine's resources over a soak, read from its own `/metrics` once a minute.

The same figures a production dashboard watches (`process_resident_memory_bytes`,
`process_open_fds`, `nul_db_connections`, `nul_asyncio_tasks`), so what the soak judges a leak is
what an operator of the line would see growing; with them the calls in progress (the load those
series follow) and the tasks per coroutine (which of them grew). A scrape that fails (the engine
killed by a fault, a takeover under way) is skipped, not invented.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from ivr.lab.soak.evidence import ResourceSample

log = logging.getLogger(__name__)

SERIES = {
    "process_resident_memory_bytes": "rss_bytes",
    "process_open_fds": "open_files",
    "nul_db_connections": "db_connections",
    "nul_asyncio_tasks": "asyncio_tasks",
}
PROCESS = "process_start_time_seconds"  # which engine process: a takeover starts a new curve
CALLS = "nul_calls_in_progress"  # by state: summed, the load the other series are read against
BY_COROUTINE = "nul_asyncio_tasks_by_coroutine"
ALERTS = "nul_alerts"  # by kind and level: the alerts in force (ivr.alerts)


def parse(text: str, at: datetime, engine_at: datetime | None = None) -> ResourceSample:
    """One sample from an exposition text; a series missing is an error naming it (an engine
    without these metrics cannot be soaked for leaks)."""
    values: dict[str, float] = {}
    calls: float | None = None
    by_coroutine: dict[str, float] = {}
    alerts: dict[str, str] = {}
    alerts_known = False
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in SERIES and not sample.labels:
                values[SERIES[sample.name]] = float(sample.value)
            elif sample.name == PROCESS:
                values["process"] = float(sample.value)
            elif sample.name == CALLS:
                calls = (calls or 0.0) + float(sample.value)
            elif sample.name == BY_COROUTINE and "coroutine" in sample.labels:
                by_coroutine[sample.labels["coroutine"]] = float(sample.value)
            elif sample.name == ALERTS and {"kind", "level"} <= set(sample.labels):
                alerts_known = True
                kind, level = sample.labels["kind"], sample.labels["level"]
                if sample.value > 0 and (level == "red" or kind not in alerts):
                    alerts[kind] = level
    missing = sorted(name for name, field in SERIES.items() if field not in values)
    if missing:
        raise ValueError(f"the engine's /metrics lacks {', '.join(missing)}")
    return ResourceSample(
        at=at,
        process=values.pop("process", None),
        calls_in_progress=calls,
        tasks_by_coroutine=by_coroutine,
        engine_at=engine_at,
        alerts_known=alerts_known,
        alerts=alerts,
        **values,
    )


class Sampler:
    """Scrapes the active engine every `every_s` until stopped; `samples` grows as it goes. Given
    every engine's `/metrics`, it follows the active one across takeovers (a standby answers 404)."""

    def __init__(
        self,
        urls: str | list[str],
        now: Callable[[], datetime],
        *,
        token: str | None = None,
        every_s: float = 60.0,
        engine_now: Callable[[], datetime] | None = None,  # the engines' simulated time (clock.offset_file)
    ):
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.now = now
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.every_s = every_s
        self.engine_now = engine_now
        self.samples: list[ResourceSample] = []
        self.failures = 0

    async def sample_once(self, http: aiohttp.ClientSession) -> ResourceSample | None:
        problems = []
        for url in self.urls:
            try:
                async with http.get(url, headers=self.headers, timeout=aiohttp.ClientTimeout(total=10)) as response:
                    response.raise_for_status()
                    text = await response.text()
                break
            except (aiohttp.ClientError, TimeoutError) as exc:
                problems.append(f"{url}: {exc}")
        else:
            self.failures += 1
            log.info("soak sampler: no engine's metrics read (%s)", "; ".join(problems))
            return None
        sample = parse(text, self.now(), self.engine_now() if self.engine_now is not None else None)
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        """Until cancelled."""
        async with aiohttp.ClientSession() as http:
            while True:
                await self.sample_once(http)
                await asyncio.sleep(self.every_s)
