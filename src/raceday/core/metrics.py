"""Prometheus metrics: one registry per running service, so two services in one process (tests) never
share a series, and every layer records into the same object it is handed.

Gauges whose value lives elsewhere (the pool, the tracked races) are collectors registered by their
owners and read at scrape time, so they are never stale.

Polls run in worker processes: each records into files of a directory the service gives it
(prometheus-client's multiprocess mode, `worker_metrics`), and the service exports their sum
(`Metrics.export_workers`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, values
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

# A poll's stages run from milliseconds (transform) to seconds (a slow fetch); the race budget is 2 s.
POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
# The REST API answers in milliseconds; the spec's read budget is 100 ms.
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The classic text format every Prometheus reads (2.x and 3.x); the names need none of 1.0.0's escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# In that format a counter's or histogram's creation time is a gauge series of its own, one per label set:
# noise on every scrape (prometheus-client's switch is process-wide).
disable_created_metrics()  # type: ignore[no-untyped-call]

Refresh = Callable[[], Awaitable[None]]


class Metrics:
    """Every series raceday exports; `render()` is the `/metrics` body."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._refreshes: dict[Collector, Refresh] = {}
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.poll_seconds = Histogram(
            "raceday_poll_duration_seconds",
            "One race poll's time by stage: fetch, transform, wait (for a write slot), write, and total",
            ["stage"],
            buckets=POLL_BUCKETS,
            registry=registry,
        )
        self.polls = Counter(
            "raceday_polls",
            "Race polls by outcome: ok, fetch_failed, invalid_payload, transform_failed, write_failed",
            ["outcome"],
            registry=registry,
        )
        self.polls_over_budget = Counter(
            "raceday_polls_over_budget",
            "Race polls that took longer than the 2 s budget",
            registry=registry,
        )
        self.nztab_requests = Counter(
            "raceday_nztab_requests",
            "NZ TAB requests by endpoint and outcome: ok, network, rate_limited, server_error, client_error",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.nztab_retries = Counter(
            "raceday_nztab_retries",
            "NZ TAB attempts after a request's first one",
            ["endpoint"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "raceday_http_request_duration_seconds",
            "REST API requests by method, route template and status",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self._polling: tuple[MetricWrapperBase, ...] = (
            self.poll_seconds,
            self.polls,
            self.polls_over_budget,
            self.nztab_requests,
            self.nztab_retries,
        )

    def register(self, collector: Collector, refresh: Refresh | None = None) -> None:
        """`refresh`, if given, is awaited before each `scrape()`: for a value only an async source has
        (a `collect()` is synchronous)."""
        self.registry.register(collector)
        if refresh is not None:
            self._refreshes[collector] = refresh

    def unregister(self, collector: Collector) -> None:
        self.registry.unregister(collector)
        self._refreshes.pop(collector, None)

    def export_workers(self, directory: str) -> None:
        """Export the poll families from the files the worker processes write in `directory` instead of
        this object's own, which stay empty (nothing polls in this process) and would name them twice."""
        for family in self._polling:
            self.registry.unregister(family)
        names = frozenset(metric.name for family in self._polling for metric in family.describe())
        self.registry.register(WorkersCollector(directory, names))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def scrape(self) -> bytes:
        """`render()` once every collector with a `refresh` has read its source."""
        await asyncio.gather(*(refresh() for refresh in list(self._refreshes.values())))
        return self.render()


class WorkersCollector:
    """The families `names` summed over every process that has written to `directory`, running or not:
    a dead worker's file stays, so its counts stay in the sums and counters never go back (the files are
    prometheus-client's counters and histograms, which `mark_process_dead` leaves alone too; a worker
    given a dead one's pid carries on from that file's values). Only
    `names`: the files hold whatever a worker's registry recorded, and this registry has families of its
    own."""

    def __init__(self, directory: str, names: frozenset[str]) -> None:
        self.directory = Path(directory)
        self.names = names

    def collect(self) -> Iterator[Metric]:
        # A starting worker's file is empty for a moment (created, not yet sized), and prometheus-client
        # fails to read it: it is left for the next scrape.
        files = [str(path) for path in sorted(self.directory.glob("*.db")) if path.stat().st_size > 0]
        for metric in MultiProcessCollector.merge(files, accumulate=True):  # type: ignore[no-untyped-call]
            if metric.name in self.names:
                yield metric


def worker_metrics(directory: str) -> Metrics:
    """A worker process's series, written to files in `directory` for the service that started it.
    prometheus-client picks its value class for the whole process, so this is only for a process of its
    own (a spawned poll worker): the service's registries keep their in-memory values."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return Metrics(process=False)
