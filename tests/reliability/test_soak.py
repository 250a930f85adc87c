"""A soak: `raceday run` on the simulator at 20x (two minutes here, 40 minutes of racing), with the API read
as a client would, sampling memory, open files and database connections. They must be flat at the end.

`make soak` runs it for 10 minutes; `SOAK_MINUTES=60 make soak` for an hour.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from raceday.core.config import Settings
from tests.conftest import ReliabilityReport
from tests.reliability.service import Service

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MINUTES = float(os.environ.get("SOAK_MINUTES", "2"))
EVERY_S = 5.0
DEFAULTS = Settings()
# The service's pool, and each poll worker process's (its polls', plus 3 for its jobs), at the defaults.
CONNECTIONS_MAX = DEFAULTS.db_pool_max + DEFAULTS.max_worker_threads * (DEFAULTS.poll_concurrency + 3)


def _rss_mb(pid: int) -> float:
    """The process's resident memory; 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except FileNotFoundError:
        pass
    return 0.0


def test_a_busy_day_leaves_memory_files_and_connections_flat(
    launch: Callable[[], Service], reliability: ReliabilityReport
) -> None:
    service = launch()
    started = service.wait_for("embedded postgres started")
    service.wait_for("races discovered")
    base = f"http://127.0.0.1:{service.port}"
    samples: list[tuple[float, int, int]] = []
    by_process: list[dict[str, float]] = []
    polls_before = sum(1 for line in service.lines if line["msg"] == "race poll")
    end = time.monotonic() + MINUTES * 60
    with (
        psycopg.connect(started["url"], autocommit=True) as db,
        httpx.Client(base_url=base, timeout=10) as api,
    ):
        while time.monotonic() < end:
            upcoming = api.get("/api/races/upcoming").json()["races"]
            if upcoming:
                api.get("/api/entrants", params={"raceId": upcoming[0]["race_id"]})
            pids = [service.process.pid, *service.children()]
            files = len(os.listdir(f"/proc/{service.process.pid}/fd"))
            connections = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'raceday'"
            ).fetchall()[0][0]
            rss = {pid: _rss_mb(pid) for pid in pids}
            samples.append((round(sum(rss.values()), 1), files, connections))
            by_process.append(
                {"minute": round((time.monotonic() - end) / 60 + MINUTES, 2), "service": rss[pids[0]]}
                | {str(pid): rss[pid] for pid in pids[1:]}
            )
            time.sleep(EVERY_S)
    polls = sum(1 for line in service.lines if line["msg"] == "race poll") - polls_before
    code, _ = service.stop(signal.SIGTERM)
    errors = [line for line in service.lines if line["level"] == "error"]
    third = len(samples) // 3
    middle, last = samples[third : 2 * third], samples[2 * third :]
    rss_middle, rss_last = max(s[0] for s in middle), max(s[0] for s in last)
    files_middle, files_last = max(s[1] for s in middle), max(s[1] for s in last)
    # The numbers outlive the run (an hour's soak is not repeated to read them again).
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"soak-{MINUTES:g}min.json").write_text(json.dumps(by_process, indent=1))
    assert code == 0
    assert errors == []
    assert polls > 500
    assert rss_last <= rss_middle * 1.10, (rss_middle, rss_last)
    assert files_last <= files_middle + 10, (files_middle, files_last)
    assert max(s[2] for s in samples) <= CONNECTIONS_MAX
    reliability.record(
        "Soak",
        f"`raceday run` on the simulator at 20x for {MINUTES:g} min ({MINUTES / 3:g} h of racing), the API "
        f"read every {EVERY_S:g} s; RSS of the service and its workers, its open files and its database "
        "connections sampled",
        "flat: no growth between the middle and the last third of the run, no errors",
        polls=polls,
        rss_mb_median=statistics.median(s[0] for s in samples),
        rss_mb_middle_third_max=rss_middle,
        rss_mb_last_third_max=rss_last,
        open_files_middle_max=files_middle,
        open_files_last_max=files_last,
        database_connections_max=max(s[2] for s in samples),
    )
