"""`raceday run` stopped the hard ways, as an operator's machine would: SIGTERM while polls are in flight,
and SIGKILL followed by a restart. Nothing is half-written or duplicated, nothing is left running."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg

from raceday.db.embedded import EmbeddedPostgres
from tests.conftest import ReliabilityReport
from tests.reliability.service import Service


def _running(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _consistency(data_dir: Path) -> dict[str, int]:
    """Open the cluster the service left and count what would betray a half-written or doubled poll."""
    queries = {
        "snapshots": "SELECT count(*) FROM race_snapshots",
        "half_written": """SELECT count(*) FROM race_snapshots s WHERE s.has_money AND NOT EXISTS (
            SELECT 1 FROM money_flow_history m
            WHERE m.race_id = s.race_id AND m.event_timestamp = s.generated_time)""",
        "orphan_rows": """SELECT count(*) FROM money_flow_history m WHERE NOT EXISTS (
            SELECT 1 FROM race_snapshots s
            WHERE s.race_id = m.race_id AND s.generated_time = m.event_timestamp)""",
    }
    database = EmbeddedPostgres(data_dir / "postgres", database="raceday_simulated", fast=True)
    try:
        with psycopg.connect(database.start()) as conn:
            return {name: conn.execute(sql).fetchall()[0][0] for name, sql in queries.items()}
    finally:
        database.stop()


def _stored_polls(service: Service) -> int:
    """Polls the service has logged as written (the reader thread appends as lines come)."""
    done = ("race poll", "race poll over budget")
    return sum(1 for line in list(service.lines) if line["msg"] in done and line.get("outcome") == "ok")


def test_sigterm_during_a_busy_cycle(
    launch: Callable[[], Service], pg_base_dir: Path, reliability: ReliabilityReport
) -> None:
    service = launch()
    banner = service.wait_for("SIMULATED DATA: polling the built-in NZ TAB simulator, not the real API")
    service.wait_for("races discovered")
    # Every race event now takes a second: polls are in flight when the signal comes.
    httpx.post(
        f"{banner['simulator']}/_sim/faults", json={"endpoint": "events", "kind": "latency", "delay_s": 1}
    )
    service.wait_for_slow_poll()
    before = _stored_polls(service)
    code, took = service.stop(signal.SIGTERM)
    stored = _stored_polls(service)
    counts = _consistency(pg_base_dir)
    assert code == 0
    assert took < 10
    # Polls were in flight at the signal, and finished: the service stored more after it.
    assert stored > before
    # Every poll the service reported stored is in the database, and none of them half-written.
    assert counts["snapshots"] >= stored
    assert counts["half_written"] == counts["orphan_rows"] == 0
    reliability.record(
        "SIGTERM during a busy cycle",
        "SIGTERM to `raceday run` (simulator at 20x) while every race event took 1 s to answer",
        "polls in flight committed or rolled back whole; exit 0; no half-written poll",
        exit_code=code,
        stopped_in_s=round(took, 2),
        polls_finished_after_the_signal=stored - before,
        snapshots_stored=counts["snapshots"],
    )


def test_sigkill_then_restart(
    launch: Callable[[], Service], pg_base_dir: Path, reliability: ReliabilityReport
) -> None:
    first = launch()
    first.wait_for("races discovered")
    first.wait_for("race tracking finished")
    children = first.children()
    first.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while leftovers := [pid for pid in children if _running(pid)]:
        assert time.monotonic() < deadline, f"processes left behind by the killed service: {leftovers}"
        time.sleep(0.05)
    second = launch()
    taken_over = second.wait_for("embedded postgres left by a stopped raceday taken over")
    summary = second.wait_for("races discovered")
    health = httpx.get(f"http://127.0.0.1:{second.port}/health", timeout=5)
    code, _ = second.stop(signal.SIGTERM)
    errors = [line for line in second.lines if line["level"] == "error"]
    counts = _consistency(pg_base_dir)
    assert health.status_code == 200
    assert code == 0
    assert errors == [], "\n".join(str(line) for line in errors)  # whole, for the next reader
    assert summary["already_settled"] > 0  # the races the killed run settled were not polled again
    assert counts["half_written"] == counts["orphan_rows"] == 0
    reliability.record(
        "SIGKILL, then restart",
        "SIGKILL to `raceday run` mid-day, then `raceday run` again on the same data directory",
        "the workers and resource tracker died with it; the orphaned PostgreSQL was taken over and stopped "
        "cleanly at exit; discovery re-ran without errors, skipping races already settled; nothing "
        "duplicated or half-written",
        processes_left_behind=0,
        orphan_postgres_pid=taken_over["pid"],
        races_already_settled=summary["already_settled"],
        snapshots_stored=counts["snapshots"],
    )
