"""What every endpoint shares: error shape and logs, 500/503, gzip, security headers, CORS, the simulated
flag, the client's path aliases, OpenAPI and /docs, and the slow-query warning."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from raceday.db import queries
from tests.api.seeding import Seeded
from tests.serving import Api, running

pytestmark = pytest.mark.asyncio(loop_scope="module")
Logs = Callable[[], list[dict[str, Any]]]
# helmet 8's default headers, which the Node service sent (Content-Security-Policy is checked apart).
SECURITY_HEADERS = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-frame-options": "SAMEORIGIN",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
}


def _assert_secure(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value, name
    assert "script-src 'self';" in headers["content-security-policy"]


async def test_a_bad_request_is_logged_with_endpoint_and_parameters(api: Api, read_logs: Logs) -> None:
    response = await api.client.get("/api/entrants", params={"race_id": "", "extra": "1"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid query parameter",
        "details": "raceId: String should have at least 1 character",
    }
    _assert_secure(response.headers)
    [line] = [line for line in read_logs() if line["msg"] == "request rejected"]
    assert line["level"] == "warn"
    assert line["endpoint"] == "GET /api/entrants"
    assert line["params"] == {"raceId": "", "extra": "1"}
    assert line["status"] == 400


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/no-such-endpoint", 404, "Not found"),
        ("POST", "/api/meetings", 405, "Method not allowed"),
        ("GET", "/api/entrants?raceId=a%00b", 400, "Invalid parameter"),
        ("GET", "/api/races/a%00b", 400, "Invalid parameter"),
    ],
)
async def test_framework_errors_have_the_same_shape(
    api: Api, method: str, path: str, status: int, error: str
) -> None:
    response = await api.client.request(method, path)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "details"}
    _assert_secure(response.headers)


@pytest.mark.parametrize("environment", ["production", "development"])
async def test_a_server_fault_is_a_500_without_internals_outside_development(
    database_url: str, read_logs: Logs, environment: str
) -> None:
    overrides: dict[str, Any] = {"node_env": environment}
    if environment == "production":
        overrides |= {"database_url": database_url, "nztab_api_url": "https://api.tab.co.nz"}
    async with running(database_url, **overrides) as api:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE race_pools RENAME TO race_pools_elsewhere")
        response = await api.client.get("/api/race-pools", params={"raceId": "R1"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "Internal server error"
    _assert_secure(response.headers)
    if environment == "production":
        assert body == {
            "error": "Internal server error",
            "details": "An unexpected error occurred; it has been logged",
        }
    else:
        assert body["details"].startswith("UndefinedTable:")
        assert "Traceback" in body["stack"]
    [line] = [line for line in read_logs() if line["msg"] == "request failed" and line["status"] == 500]
    assert (line["level"], line["endpoint"], line["params"]) == (
        "error",
        "GET /api/race-pools",
        {"raceId": "R1"},
    )
    assert "race_pools" in line["exception"]


async def test_an_exhausted_pool_is_a_503(database_url: str, read_logs: Logs) -> None:
    async with running(database_url, db_pool_max=2) as api, contextlib.AsyncExitStack() as held:
        for _ in range(2):
            await held.enter_async_context(api.runtime.pool.connection())
        response = await api.client.get("/api/meetings")
    assert response.status_code == 503
    assert response.json() == {
        "error": "Database unavailable",
        "details": "The database did not answer; try again shortly",
    }
    assert any(line["msg"] == "request failed" and line["status"] == 503 for line in read_logs())


async def test_responses_over_one_kilobyte_are_gzipped(api: Api, seeded: Seeded) -> None:
    big = await api.client.get("/api/entrants", params={"raceId": seeded.race_id})
    assert big.headers["content-encoding"] == "gzip"
    assert len(big.content) > 10_000
    small = await api.client.get(f"/api/meetings/{seeded.meeting_id}")
    assert len(small.content) < 1024
    assert "content-encoding" not in small.headers
    raw = await api.client.get(
        "/api/entrants", params={"raceId": seeded.race_id}, headers={"accept-encoding": "identity"}
    )
    assert "content-encoding" not in raw.headers
    assert raw.json() == big.json()
    async with api.client.stream("GET", "/api/entrants", params={"raceId": seeded.race_id}) as stream:
        compressed = b"".join([chunk async for chunk in stream.aiter_raw()])
    assert gzip.decompress(compressed) == raw.content


async def test_security_headers_on_success_and_a_docs_policy_for_swagger(api: Api) -> None:
    response = await api.client.get("/health")
    _assert_secure(response.headers)
    assert "x-powered-by" not in response.headers
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


async def test_cors_allows_any_origin_outside_production(api: Api) -> None:
    preflight = await api.client.options(
        "/api/entrants",
        headers={"origin": "http://localhost:3001", "access-control-request-method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    simple = await api.client.get("/api/meetings", headers={"origin": "http://localhost:3001"})
    assert simple.headers["access-control-allow-origin"] == "*"
    assert "X-Raceday-Simulated" in simple.headers["access-control-expose-headers"]


async def test_cors_origins_come_from_configuration(database_url: str) -> None:
    async with running(database_url, cors_origins="https://app.example, https://admin.example") as api:
        allowed = await api.client.get("/api/meetings", headers={"origin": "https://admin.example"})
        other = await api.client.get("/api/meetings", headers={"origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://admin.example"
    assert "access-control-allow-origin" not in other.headers


async def test_production_without_origins_sends_no_cors_headers(database_url: str) -> None:
    settings = {
        "node_env": "production",
        "database_url": database_url,
        "nztab_api_url": "https://api.tab.co.nz",
    }
    async with running(database_url, **settings) as api:
        response = await api.client.get("/api/meetings", headers={"origin": "https://app.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_simulated_data_is_flagged_on_every_response(api: Api, seeded: Seeded) -> None:
    assert "x-raceday-simulated" not in (await api.client.get("/api/meetings")).headers
    api.runtime.simulated = True
    try:
        responses = [
            await api.client.get("/api/meetings"),
            await api.client.get("/api/entrants"),
            await api.client.get("/health"),
        ]
    finally:
        api.runtime.simulated = False
    assert [r.headers.get("x-raceday-simulated") for r in responses] == ["true"] * 3


async def test_meetings_and_races_say_where_their_data_came_from(
    api: Api, seeded_database: tuple[str, Seeded]
) -> None:
    url, seeded = seeded_database
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE meetings SET data_source = 'simulator' WHERE meeting_id = %s", (seeded.meeting_id,)
        )
    try:
        meeting = (await api.client.get(f"/api/meetings/{seeded.meeting_id}")).json()
        race = (await api.client.get(f"/api/races/{seeded.race_id}")).json()
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE meetings SET data_source = 'nztab' WHERE meeting_id = %s", (seeded.meeting_id,)
            )
    assert (meeting["data_source"], race["data_source"]) == ("simulator", "simulator")


@pytest.mark.parametrize("prefix", ["/api", "/api/api"])
async def test_the_clients_double_api_prefix_is_served(api: Api, seeded: Seeded, prefix: str) -> None:
    response = await api.client.get(f"{prefix}/races", params={"meetingId": seeded.meeting_id})
    assert [race["race_id"] for race in response.json()] == [seeded.race_id]
    health = await api.client.get("/api/health")
    assert (health.status_code, health.json()["status"]) == (200, "healthy")


async def test_camel_case_wins_when_both_casings_are_sent(api: Api, seeded: Seeded) -> None:
    response = await api.client.get("/api/entrants", params={"raceId": seeded.race_id, "race_id": "other"})
    assert len(response.json()) == 8


async def test_openapi_documents_400_not_422_with_examples(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    assert not any(path.startswith("/api/api") for path in schema["paths"])
    assert "/api/health" not in schema["paths"]
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert all("422" not in op["responses"] for op in operations)
    entrants = schema["paths"]["/api/entrants"]["get"]
    assert {"200", "400", "404", "500", "503"} <= set(entrants["responses"])
    assert [p["name"] for p in entrants["parameters"]] == ["raceId"]
    components = schema["components"]["schemas"]
    assert components["Entrant"]["examples"][0]["win_pool_amount"] == 146422
    assert "integer cents" in components["RacePools"]["properties"]["win_pool_total"]["description"].lower()
    assert "HTTPValidationError" not in components


async def test_slow_queries_are_named_in_a_warning(api: Api, read_logs: Logs) -> None:
    async with api.runtime.pool.connection() as conn:
        await queries.fetch(conn, "sleepy", "SELECT pg_sleep(%(s)s) AS slept", {"s": 0.15})
        await queries.fetch(conn, "quick", "SELECT 1 AS one", {})
    warnings = [line for line in read_logs() if line["msg"] == "slow query"]
    assert [(w["query"], w["level"]) for w in warnings] == [("sleepy", "warn")]
    assert warnings[0]["duration"] >= 150
