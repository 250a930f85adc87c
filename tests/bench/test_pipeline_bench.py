"""`raceday bench pipeline` end to end at a tiny size: the numbers it reports come from real polls."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from raceday.bench.pipeline import rounds

ISSUE_TARGETS = (
    "1 races: main-process CPU per race",
    "5 races: main-process CPU per race",
    "100 races at once: median wall per batch",
    "10 races at once: median wall per batch",
    "5 races at once: median wall per batch (spec)",
    "5 races: p95 run per race (spec)",
    "5 races: every worker process polls",
    "recording raw responses: wall added per poll",
    "recording raw responses: CPU added per poll",
)


def test_each_round_runs_every_size_once_in_a_rotated_order() -> None:
    assert list(rounds([1, 5, 10], 4)) == [1, 5, 10, 5, 10, 1, 10, 1, 5, 1, 5, 10]


def test_the_bench_polls_every_race_through_the_queue_and_reports_cpu_by_process(tmp_path: Path) -> None:
    env = os.environ | {"LOG_LEVEL": "error"}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "raceday", "bench", "pipeline", "--races", "1,5", "--repeats", "2"]
    command += ["--processes", "2", "--concurrency", "5", "--pairs", "4", "--history-minutes", "3"]
    command += ["--out", str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    (saved,) = tmp_path.glob("pipeline-*.json")
    assert len(list(tmp_path.glob("pipeline-*.csv"))) == 1
    report = json.loads(saved.read_text())
    assert report["history_minutes"] == 3
    pids = report["worker_pids"]
    assert len(pids) == 2
    for size in (1, 5):
        scenario = report["scenarios"][str(size)]
        assert scenario["polls_deferred"] == scenario["polls_committed"] == size * 2
        for metric in ("wall_ms", "queue_ms", "run_ms"):
            assert 0 < scenario[metric]["median"] < 60_000
        cpu = scenario["cpu_per_race_ms"]
        assert {"main", "workers", "postgres", "total", *(f"worker {pid}" for pid in pids)} <= cpu.keys()
        assert all(math.isfinite(stats["median"]) and stats["median"] >= 0 for stats in cpu.values())
        for label in ("main", "workers", "postgres", "total"):
            assert cpu[label]["median"] > 0
        assert cpu["total"]["median"] >= cpu["workers"]["median"] + cpu["postgres"]["median"]

    recording = report["recording"]
    assert recording["pairs"] == 4
    assert recording["with"]["wall_ms"]["median"] > 0
    assert recording["with"]["cpu_ms"]["median"] > 0
    assert all(math.isfinite(recording["added"][metric]["median"]) for metric in recording["added"])

    targets = {target["target"]: target for target in report["targets"]}
    for name in ISSUE_TARGETS:
        assert any(target.startswith(name) for target in targets), name
    assert targets["100 races at once: median wall per batch"]["met"] is None  # not run at this size
    assert all(name in done.stdout for name in targets)
    assert "not run 100 races at once" in done.stdout
