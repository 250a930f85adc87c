"""GET /metrics scraped while the service polls a simulated day (real simulator over HTTP, PostgreSQL 18):
every family is there and moves, the poll families counted in the worker processes. Each runtime has its
own registry and workers' directory, so the values are this test's alone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from raceday.core.metrics import Metrics
from raceday.db.pool import PoolConfig, open_pool
from raceday.db.pool_metrics import observed_pool
from raceday.simulator import FaultRule
from tests.serving import Api, eventually, running

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(api: Api) -> Samples:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples_of(response.text)


def samples_of(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 if there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


async def test_metrics_move_during_a_simulated_day(database_url: str) -> None:
    async with running(database_url, ingest=True, simulator_speed=10) as api:
        assert api.runtime.simulator is not None

        async def polled(count: int) -> Callable[[], Any]:
            async def check() -> Samples | None:
                samples = await scrape(api)
                polls = value(samples, "raceday_polls_total", outcome="ok")
                return samples if polls >= count and value(samples, "raceday_tracked_races") > 0 else None

            return check

        first = await eventually(await polled(5), within_s=60, every_s=0.5)

        ok = value(first, "raceday_polls_total", outcome="ok")
        for stage in ("fetch", "transform", "write", "total"):
            assert value(first, "raceday_poll_duration_seconds_count", stage=stage) >= ok
        assert value(first, "raceday_poll_duration_seconds_bucket", stage="total", le="+Inf") >= ok
        assert value(first, "raceday_tracked_races") > 0
        assert {labels for (name, labels) in first if name == "raceday_tracked_races"} == {
            frozenset({("interval", interval)}) for interval in ("60s", "30s", "15s")
        }
        assert value(first, "raceday_nztab_requests_total", endpoint="meetings", outcome="ok") >= 1
        assert value(first, "raceday_nztab_requests_total", endpoint="events", outcome="ok") >= ok
        assert value(first, "raceday_db_pool_max") == 10
        assert value(first, "raceday_db_pool_connections") >= 1
        assert ("raceday_db_pool_waiting", frozenset()) in first
        assert ("raceday_polls_over_budget_total", frozenset()) in first
        assert value(first, "process_resident_memory_bytes") > 0

        # The REST API by route template and status: a race by its id, and a path no route has.
        race_id = next(iter(api.runtime.simulator.day.races)).race_id
        # Stored or not yet (polls run beside this test): either way the route template labels it.
        race_status = str((await api.client.get(f"/api/races/{race_id}")).status_code)
        assert race_status in ("200", "404")
        assert (await api.client.get("/no/such/page")).status_code == 404
        # NZ TAB refuses the next two event requests: each is retried.
        api.runtime.simulator.faults.add(FaultRule(endpoint="events", kind="error", status=503, times=2))

        async def moved() -> Samples | None:
            samples = await scrape(api)
            retried = value(samples, "raceday_nztab_retries_total", endpoint="events") >= 2
            more = value(samples, "raceday_polls_total", outcome="ok") > ok
            return samples if retried and more else None

        second = await eventually(moved, within_s=60, every_s=0.5)

        route = {
            (dict(labels)["route"], dict(labels)["status"])
            for (name, labels) in second
            if name.startswith("raceday_http_request_duration_seconds")
        }
        assert ("/api/races/{race_id}", race_status) in route
        assert ("unmatched", "404") in route
        assert ("/metrics", "200") in route
        assert not any(race_id in path for path, _ in route)
        for stage in ("fetch", "transform", "write"):
            assert value(second, "raceday_poll_duration_seconds_count", stage=stage) > value(
                first, "raceday_poll_duration_seconds_count", stage=stage
            )
        assert value(second, "raceday_nztab_requests_total", endpoint="events") > value(
            first, "raceday_nztab_requests_total", endpoint="events"
        )


def polls_of(metrics_dir: str, pid: int) -> float:
    """The polls one worker process has counted, from its own file (none before it has started)."""
    path = Path(metrics_dir) / f"counter_{pid}.db"
    if not path.exists() or path.stat().st_size == 0:  # not started, or creating its file
        return 0
    merged = MultiProcessCollector.merge([str(path)])
    return sum(s.value for family in merged if family.name == "raceday_polls" for s in family.samples)


def test_a_starting_workers_empty_file_is_left_for_the_next_scrape(tmp_path: Path) -> None:
    """prometheus-client creates a worker's file, then sizes it: a scrape in between must not fail."""
    code = (
        "from raceday.core.metrics import worker_metrics\n"
        f"worker_metrics({str(tmp_path)!r}).polls.labels('ok').inc(3)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    (tmp_path / "counter_999999.db").touch()
    metrics = Metrics(process=False)
    metrics.export_workers(str(tmp_path))
    assert value(samples_of(metrics.render().decode()), "raceday_polls_total", outcome="ok") == 3


async def test_a_killed_workers_polls_still_count(database_url: str) -> None:
    async with running(database_url, ingest=True, simulator_speed=10) as api:
        workers = api.runtime.workers
        assert workers is not None
        metrics_dir = workers.spec.metrics_dir
        assert metrics_dir is not None

        async def busiest() -> tuple[int, float] | None:
            """The worker with the most polls, once it has a few."""
            counts = {pid: polls_of(metrics_dir, pid) for pid in workers.pids}
            pid = max(counts, key=lambda pid: counts[pid])
            return (pid, counts[pid]) if counts[pid] >= 3 else None

        victim, its_polls = await eventually(busiest, within_s=60, every_s=0.5)
        before = value(await scrape(api), "raceday_polls_total")
        os.kill(victim, signal.SIGKILL)
        await eventually(lambda: asyncio.sleep(0, victim not in workers.pids), within_s=10)
        living = sum(polls_of(metrics_dir, pid) for pid in workers.pids)
        after = value(await scrape(api), "raceday_polls_total")
        assert after >= before
        # The dead worker's polls are still in the total (the living ones' can only have grown since).
        assert after >= living + its_polls

        async def more() -> bool:
            return value(await scrape(api), "raceday_polls_total") > after

        await eventually(more, within_s=30, every_s=0.5)


async def test_the_pool_is_logged_and_warned_about_when_nearly_exhausted(
    database_url: str, read_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    pool = await open_pool(database_url, PoolConfig(max=2))
    metrics = Metrics(process=False)
    try:
        async with observed_pool(pool, metrics, every_s=0.05):
            lines = await eventually(
                lambda: asyncio.sleep(0, [line for line in read_logs() if line["msg"] == "database pool"]),
                within_s=5,
            )
            assert lines[0]["level"] == "info"
            assert lines[0]["max"] == 2
            async with pool.connection(), pool.connection():
                warned = await eventually(
                    lambda: asyncio.sleep(
                        0, [line for line in read_logs() if line["msg"] == "database pool nearly exhausted"]
                    ),
                    within_s=5,
                )
                scraped = metrics.render().decode()
            assert warned[0]["level"] == "warn"
            assert (warned[0]["in_use"], warned[0]["use_pct"]) == (2, 100)
            assert 'raceday_db_pool_connections{state="in_use"} 2.0' in scraped
    finally:
        await pool.close()
    # Gone from the registry with the pool.
    assert "raceday_db_pool" not in metrics.render().decode()
