"""GET /health on a real HTTP server: 200 with the spec's body, 503 when the database cannot answer."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from raceday.db.embedded import EmbeddedPostgres
from tests.serving import running


async def test_healthy_body_is_exactly_the_specs(database_url: str) -> None:
    async with running(database_url) as api:
        response = await api.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "timestamp", "database", "workers"}
    assert (body["status"], body["database"], body["workers"]) == ("healthy", "connected", "operational")
    assert body["timestamp"].endswith("Z")


async def test_exhausted_pool_answers_503_within_3_seconds(database_url: str) -> None:
    async with running(database_url, db_pool_max=2) as api:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(2):
                await held.enter_async_context(api.runtime.pool.connection())
            started = time.monotonic()
            response = await api.client.get("/health", timeout=10)
            elapsed = time.monotonic() - started
        recovered = await api.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"status", "timestamp", "error"}
    assert body["status"] == "unhealthy"
    assert "2.00 sec" in body["error"]
    assert elapsed < 3.0
    assert recovered.status_code == 200


async def test_stopped_database_answers_503_within_3_seconds(pg_base_dir: Path) -> None:
    server = EmbeddedPostgres(pg_base_dir, fast=True)
    server.start()
    try:
        async with running(server.url) as api:
            assert (await api.client.get("/health")).status_code == 200
            server.stop()
            started = time.monotonic()
            response = await api.client.get("/health", timeout=10)
            elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["error"]
    assert elapsed < 3.0


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_openapi_documents_health(database_url: str, path: str) -> None:
    async with running(database_url) as api:
        response = await api.client.get(path)
    assert response.status_code == 200
