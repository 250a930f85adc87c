"""`raceday run` as a user runs it: it serves /health, and SIGTERM/SIGINT close it cleanly with exit 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spawn_run(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`python -m raceday run` in `env`, its stdout and stderr together as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "raceday", "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _start(env_overrides: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env |= {"PORT": str(port), "LOG_LEVEL": "info", "NODE_ENV": "test"} | env_overrides
    return spawn_run(env, cwd), port


def _wait_healthy(process: subprocess.Popen[str], port: int, within_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"raceday exited early with {process.returncode}:\n{output}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("raceday did not answer /health in time")


def _wait_for_meetings(port: int, within_s: float = 60) -> httpx.Response:
    """Discovery's first act is to store the day's meetings: wait until the API serves some."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        response = httpx.get(f"http://127.0.0.1:{port}/api/meetings", timeout=5)
        if response.status_code == 200 and response.json():
            return response
        time.sleep(0.2)
    pytest.fail("no meetings were stored in time")


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, list[dict[str, object]]]:
    process.send_signal(sig)
    output, _ = process.communicate(timeout=30)
    return process.returncode, [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_the_pool_and_exits_zero(
    database_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    process, port = _start({"DATABASE_URL": database_url}, tmp_path)
    response = _wait_healthy(process, port)
    assert response.status_code == 200
    code, lines = _stop(process, sig)
    assert code == 0
    messages = [line["msg"] for line in lines]
    assert "Database connection pool configured" in messages
    assert "closing database pool" in messages
    assert all(line["env"] == "test" for line in lines)


def test_without_database_url_it_runs_an_embedded_postgres_18(tmp_path: Path, pg_base_dir: Path) -> None:
    data_dir = pg_base_dir
    process, port = _start({"RACEDAY_DATA_DIR": str(data_dir)}, tmp_path)
    response = _wait_healthy(process, port)
    meetings = _wait_for_meetings(port)
    code, lines = _stop(process, signal.SIGTERM)
    assert meetings.headers["X-Raceday-Simulated"] == "true"
    assert {meeting["data_source"] for meeting in meetings.json()} == {"simulator"}
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert code == 0
    started = next(line for line in lines if line["msg"] == "embedded postgres started")
    assert str(started["version"]).startswith("18.")
    # No NZTAB_API_URL: the simulator feeds it, into a database of its own.
    assert urlsplit(str(started["url"])).path == "/raceday_simulated"

    assert any(line["msg"] == "embedded postgres stopped" for line in lines)
    assert started["data_dir"] == str(data_dir / "postgres" / "pgdata")
    assert not (data_dir / "postgres" / "pgdata" / "postmaster.pid").exists()
    # The cluster is kept: a second run reuses it without creating it again.
    process, port = _start({"RACEDAY_DATA_DIR": str(data_dir)}, tmp_path)
    assert _wait_healthy(process, port).status_code == 200
    code, lines = _stop(process, signal.SIGTERM)
    assert code == 0
    assert not any(line["msg"] == "embedded postgres cluster created" for line in lines)


def test_production_never_falls_back_to_the_simulator(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "NZTAB_"))}
    env |= {
        "NODE_ENV": "production",
        "DATABASE_URL": "postgresql://raceday:secret@127.0.0.1:1/raceday",
        "NZTAB_API_URL": "https://api.tab.co.nz",
    }
    result = subprocess.run(
        [sys.executable, "-m", "raceday", "run", "--simulate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = [json.loads(text) for text in result.stdout.splitlines() if text.startswith("{")]
    assert line["msg"] == "cannot start"
    assert line["error"] == "the simulator is not available with NODE_ENV=production"


def test_no_simulate_without_an_api_url_is_refused_up_front(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "NZTAB_"))}
    result = subprocess.run(
        [sys.executable, "-m", "raceday", "run", "--no-simulate"],
        env=env | {"NODE_ENV": "test", "RACEDAY_DATA_DIR": str(tmp_path / "never-created")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = [json.loads(text) for text in result.stdout.splitlines() if text.startswith("{")]
    assert (line["msg"], line["error"]) == ("cannot start", "--no-simulate needs NZTAB_API_URL")
    assert not (tmp_path / "never-created").exists()
