"""The scheduler's state as Prometheus gauges, read at scrape time: how many races are tracked, by the
interval they are polled at now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from raceday.domain.schedule import poll_interval_s
from raceday.pipeline.scheduler import Scheduler

INTERVALS = (60, 30, 15)


class TrackedRacesCollector:
    """raceday_tracked_races{interval="60s"|"30s"|"15s"}: every interval is exported, zero included."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        now = self.scheduler.clock.now()
        counts = Counter(
            poll_interval_s((race.start - now).total_seconds())
            for race in list(self.scheduler.races.values())
        )
        family = GaugeMetricFamily(
            "raceday_tracked_races", "Races being polled, by their polling interval now", labels=["interval"]
        )
        for interval in INTERVALS:
            family.add_metric([f"{interval}s"], counts.get(interval, 0))
        yield family
