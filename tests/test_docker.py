"""No Docker engine runs here, so the Dockerfile and compose file are checked by reading them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from raceday.core.config import EXPECTED
from raceday.pipeline.poll_workers import STOP_GRACE_S

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_is_multi_stage_on_slim_python(dockerfile: list[str]) -> None:
    stages = [line for line in dockerfile if line.startswith("FROM ")]
    assert len(stages) == 2
    assert all(re.match(r"FROM python:3\.1[1-9]-slim", line) for line in stages)
    assert any(line.startswith("COPY --from=builder") for line in dockerfile)


def test_dockerfile_runs_as_a_non_root_user(dockerfile: list[str]) -> None:
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}


def test_dockerfile_healthcheck_calls_health(dockerfile: list[str]) -> None:
    [check] = [line for line in dockerfile if line.startswith("HEALTHCHECK")]
    assert "http://localhost:3000/health" in check
    assert "--interval=30s" in check
    assert "--timeout=10s" in check
    assert "--retries=3" in check
    assert any(line.startswith("EXPOSE 3000") for line in dockerfile)
    assert dockerfile[-1] == 'CMD ["raceday", "run"]'


def test_postgres_service_is_18_alpine_with_healthcheck_and_volume(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:18-alpine"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]


def test_server_waits_for_a_healthy_database_and_is_limited(compose: dict[str, Any]) -> None:
    server = compose["services"]["server"]
    assert server["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert float(server["cpus"]) == 4.0
    assert server["mem_limit"] == "4g"
    assert server["restart"] == "unless-stopped"
    assert "http://localhost:3000/health" in " ".join(server["healthcheck"]["test"])
    assert server["ports"] == ["3000:3000"]


def test_server_gets_every_variable_it_needs(compose: dict[str, Any]) -> None:
    environment = compose["services"]["server"]["environment"]
    # The embedded database and the simulator are for machines without infrastructure, not for compose.
    needed = {name for name in EXPECTED if not name.startswith(("RACEDAY_", "SIMULATOR_"))}
    assert needed <= set(environment)
    assert environment["NODE_ENV"] == "production"
    assert environment["DATABASE_URL"].startswith("postgresql://raceday:")
    assert environment["DATABASE_URL"].endswith("@postgres:5432/raceday")


def test_server_keeps_its_archives_on_a_volume(compose: dict[str, Any], dockerfile: list[str]) -> None:
    server = compose["services"]["server"]
    folder = server["environment"]["ARCHIVE_DIR"]
    [mount] = [volume for volume in server["volumes"] if volume.endswith(f":{folder}")]
    assert mount.split(":")[0] in compose["volumes"]
    # The folder exists in the image, owned by the user, so the new volume is writable by raceday.
    assert any(f"install -d -o raceday {folder}" in line for line in dockerfile)


def test_prometheus_is_optional_and_scrapes_metrics(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert all(
        "profiles" not in service for name, service in compose["services"].items() if name != "prometheus"
    )
    source, target = prometheus["volumes"][0].split(":")[:2]
    assert target == "/etc/prometheus/prometheus.yml"
    assert f"--config.file={target}" in prometheus["command"]
    config = yaml.safe_load((ROOT / source).read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["server:3000"]}]
    assert compose["services"]["server"]["ports"] == ["3000:3000"]


def test_docker_waits_for_the_workers_running_polls_before_killing_the_server(
    compose: dict[str, Any],
) -> None:
    """Docker kills a container 10 s after SIGTERM unless told otherwise: sooner than the workers' grace."""
    grace = re.fullmatch(r"(\d+)s", compose["services"]["server"]["stop_grace_period"])
    assert grace is not None
    assert int(grace[1]) > STOP_GRACE_S + 5  # the workers' grace, then the API's own shutdown
