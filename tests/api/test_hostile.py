"""Hostile input on a real server: SQL metacharacters, huge query strings, broken encodings, repeated
parameters and 50 MB bodies get a 4xx with the error shape, never a 5xx, and never buffer the body."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api.seeding import Seeded
from tests.conftest import ReliabilityReport
from tests.serving import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIFTY_MB = 50 * 1024 * 1024


def _rss_kb() -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1))


async def _raw(api: Api, request: bytes, body_chunks: int = 0, chunk: bytes = b"") -> tuple[int, bytes]:
    """Send raw bytes, then chunks of a body until the server answers, and read the answer."""
    parts = urlsplit(api.base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    answer = asyncio.create_task(reader.read(65536))
    writer.write(request)
    with contextlib.suppress(ConnectionError):
        for _ in range(body_chunks):
            if answer.done():
                break  # the server answered before the whole body was sent: as it should
            writer.write(chunk)
            await writer.drain()
    response = await answer
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize(
    "race_id",
    ["' OR 1=1 --", "0f57e087'; DROP TABLE races; --", '"; SELECT pg_sleep(10); --', "%' AND '%'='"],
)
async def test_sql_metacharacters_are_just_an_unknown_id(api: Api, race_id: str) -> None:
    response = await api.client.get("/api/entrants", params={"raceId": race_id})
    assert response.status_code == 404
    assert response.json()["error"] == "Race not found"
    races = await api.client.get("/api/races/upcoming")
    assert races.status_code == 200


async def test_a_ten_kilobyte_query_string_is_refused_with_the_error_shape(api: Api) -> None:
    response = await api.client.get("/api/entrants", params={"raceId": "x" * 10_240})
    assert response.status_code == 414
    assert response.json() == {
        "error": "Query too long",
        "details": "Query strings are limited to 8192 bytes",
    }


@pytest.mark.parametrize("query", ["raceId=%zz", "raceId=%ff%fe", "raceId=%", "race%id=1", "raceId=%C0%AF"])
async def test_invalid_percent_encoding_is_a_client_error(api: Api, query: str) -> None:
    response = await api.client.get(f"/api/entrants?{query}")
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error", "details"}


async def test_repeated_parameters_take_one_value_and_never_fail(api: Api, seeded: Seeded) -> None:
    response = await api.client.get(
        f"/api/race-pools?raceId=nope&raceId={seeded.race_id}&race_id=nope&raceId=nope"
    )
    assert response.status_code in (200, 404)
    assert response.status_code < 500


async def test_a_path_that_is_not_utf8_gets_the_error_shape(api: Api) -> None:
    encoded = await api.client.get("/api/races/%ff%fe")
    assert encoded.status_code == 404
    assert set(encoded.json()) == {"error", "details"}
    # Raw bytes that are not a valid request line never reach the app: uvicorn answers 400 itself.
    request = b"GET /api/races/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, _ = await _raw(api, request)
    assert status == 400


async def test_a_declared_fifty_megabyte_body_is_refused_before_it_is_read(api: Api) -> None:
    before = _rss_kb()
    head = (
        b"POST /api/user-alert-configs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {FIFTY_MB}\r\nConnection: close\r\n\r\n".encode()
    )
    results = await asyncio.gather(*(_raw(api, head, 50, b"x" * 1024 * 1024) for _ in range(4)))
    grown_mb = (_rss_kb() - before) / 1024
    for status, body in results:
        assert status == 413
        assert b'"Payload too large"' in body
    assert grown_mb < 20, f"RSS grew by {grown_mb:.0f} MB"


async def test_a_streamed_fifty_megabyte_body_is_cut_off_at_the_limit(
    api: Api, reliability: ReliabilityReport
) -> None:
    before = _rss_kb()
    head = (
        b"POST /api/user-alert-configs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    megabyte = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
    results = await asyncio.gather(*(_raw(api, head, 50, megabyte) for _ in range(4)))
    grown_mb = (_rss_kb() - before) / 1024
    assert [status for status, _ in results] == [413] * 4
    assert grown_mb < 20, f"RSS grew by {grown_mb:.0f} MB"
    reliability.record(
        "Hostile API input",
        "SQL metacharacters in ids, a 10 KB query string, invalid percent-encoding, repeated parameters, "
        "a path that is not UTF-8, four 50 MB bodies at once (declared, and streamed chunked); "
        "schemathesis over the OpenAPI document (tests/api/test_fuzz.py)",
        "404 for unknown ids, 414 for the query, 4xx with {error, details} for the encodings (uvicorn's own "
        "400 for raw bytes that are not HTTP), 413 before any body is buffered; never a 5xx",
        rss_growth_mb_four_streamed_50mb_bodies=round(grown_mb, 1),
        body_limit_kb=64,
        query_limit_kb=8,
    )


async def test_an_alert_config_within_the_limit_is_still_saved(api: Api) -> None:
    body = {
        "user_id": "hostile-test",
        "indicators": [{"percentage_range_min": 1, "color": "#ABCDEF", "display_order": 1}],
    }
    response = await api.client.post("/api/user-alert-configs", json=body)
    assert response.status_code == 200
    assert response.json()["indicators"][0]["percentage_range_min"] == 1
