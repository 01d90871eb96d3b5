"""The soak reads the engine's resources from the engine's own /metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.lab.soak.sampler import Sampler, parse
from ivr.ops.config import MetricsSettings
from ivr.ops.http import ops_routes
from tests.unit.test_ops import _metrics, _resync

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def test_a_sample_is_read_from_the_real_metrics_endpoint() -> None:
    app = web.Application()
    app.add_routes(ops_routes(_metrics(), MetricsSettings(), _resync))
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        sampler = Sampler(str(server.make_url("/metrics")), lambda: NOW)
        sample = await sampler.sample_once(http)
    assert sample is not None and sampler.samples == [sample]
    assert sample.db_connections == 3.0
    assert sample.rss_bytes > 10_000_000  # this very process: a Python with aiohttp loaded
    assert sample.open_files > 3 and sample.asyncio_tasks >= 1
    assert sample.process is not None and sample.process > 1e9  # this process's start: which engine it was
    assert sample.calls_in_progress == 2.0  # the engine's calls, all states: the load at that moment
    # What the tasks ran, by coroutine: this test's own among them, the total the same as the count.
    assert sample.tasks_by_coroutine["test_a_sample_is_read_from_the_real_metrics_endpoint"] == 1.0
    assert sum(sample.tasks_by_coroutine.values()) == sample.asyncio_tasks


def test_an_engine_without_the_load_or_the_coroutines_is_still_sampled() -> None:
    """An engine of before they were published: its resources are read, the rest left unknown."""
    text = "process_open_fds 12.0\nprocess_resident_memory_bytes 1e8\nnul_db_connections 2.0\nnul_asyncio_tasks 30.0\n"
    sample = parse(text, NOW)
    assert (sample.asyncio_tasks, sample.calls_in_progress, sample.tasks_by_coroutine) == (30.0, None, {})


async def test_an_engine_that_does_not_answer_is_skipped_not_invented() -> None:
    sampler = Sampler("http://127.0.0.1:9/metrics", lambda: NOW)
    async with aiohttp.ClientSession() as http:
        assert await sampler.sample_once(http) is None
    assert sampler.samples == [] and sampler.failures == 1


def test_metrics_without_the_resource_series_are_refused() -> None:
    with pytest.raises(ValueError, match="nul_asyncio_tasks, nul_db_connections"):
        parse("# TYPE process_open_fds gauge\nprocess_open_fds 12.0\nprocess_resident_memory_bytes 1e8\n", NOW)


async def test_the_sampler_follows_the_active_engine_across_a_takeover() -> None:
    """A standby answers /metrics with 404: the sample is the active engine's, whichever it is."""
    standby = web.Application()
    active = web.Application()
    active.add_routes(ops_routes(_metrics(), MetricsSettings(), _resync))
    async with (
        TestServer(standby, host="127.0.0.1") as first,
        TestServer(active, host="127.0.0.1") as second,
        aiohttp.ClientSession() as http,
    ):
        sampler = Sampler([str(first.make_url("/metrics")), str(second.make_url("/metrics"))], lambda: NOW)
        sample = await sampler.sample_once(http)
    assert sample is not None and sample.db_connections == 3.0 and sampler.failures == 0
