"""Prometheus metrics: one registry per running service, so two services in one process (tests) never
share a series, and every layer records into the same object it is handed.

Gauges whose value lives elsewhere (the pool, the tracked races) are collectors registered by their
owners and read at scrape time, so they are never stale.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
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


class Metrics:
    """Every series raceday exports; `render()` is the `/metrics` body."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.poll_seconds = Histogram(
            "raceday_poll_duration_seconds",
            "One race poll's time by stage: fetch, transform, write, and total",
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
        self.batches_over_budget = Counter(
            "raceday_poll_batches_over_budget",
            "Batches of polls started together that took longer than 15 s per 5 races",
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

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def unregister(self, collector: Collector) -> None:
        self.registry.unregister(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)
