"""NzTabClient against the simulator: a real HTTP server on localhost, misbehaving on request.

Attempts are counted on the server side, from the simulator's request log (or, for requests a
fault holds open, from how much of a `times`-limited rule was used up).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import structlog
from structlog.testing import capture_logs

from raceday import __version__
from raceday.core.config import Settings
from raceday.core.log import configure_logging
from raceday.nztab.client import NzTabClient, RetryPolicy, _retry_after_seconds
from raceday.nztab.decode import NzTabError, NzTabPayloadError, NzTabUnavailable
from raceday.simulator import FaultRule, RequestRecord, Simulator, serve_simulator

KEY = "partner-5ecret-9f1c77"
FROM = "ops@raceday.example"
PARTNER = "raceday tests"
# Real backoff shape, but microseconds long: tests that are not about the waits run fast.
FAST = RetryPolicy(wait_initial=0.001, wait_max=0.004, wait_jitter=0.0)
SMALL_DAY = "NZ:T=2,NZ:H=1,AUS:T=1,AUS:G=1"


# One simulator (and event loop) for the module: starting and stopping uvicorn is most of the cost.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_sim() -> AsyncIterator[Simulator]:
    async with serve_simulator(seed=11, meetings=SMALL_DAY) as simulator:
        yield simulator


@pytest.fixture
def sim(shared_sim: Simulator) -> Simulator:
    """The shared simulator with no fault rules and an empty request log."""
    shared_sim.faults.clear()
    shared_sim.requests.clear()
    return shared_sim


def _client(base_url: str, **kwargs: Any) -> NzTabClient:
    options: dict[str, Any] = {"api_key": KEY, "timeout": 1.0, "retry": FAST} | kwargs
    return NzTabClient(base_url, from_email=FROM, partner_name=PARTNER, **options)


@pytest_asyncio.fixture(loop_scope="module")
async def client(sim: Simulator) -> AsyncIterator[NzTabClient]:
    async with _client(sim.base_url) as nztab:
        yield nztab


@pytest.fixture
def race_id(sim: Simulator) -> str:
    return sim.day.races[0].race_id


def _events(sim: Simulator, race_id: str) -> list[RequestRecord]:
    return [r for r in sim.requests if r.endpoint == "events" and r.path.endswith(f"/{race_id}")]


def _attempt_logs(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "nztab attempt"]


# --- happy path and identity -----------------------------------------------------------------


async def test_race_event_from_simulator(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    with capture_logs() as logs:
        response = await client.race_event(race_id)
    assert response.data.race.event_id == race_id
    assert response.simulated is True
    assert response.data.money_tracker is not None
    assert response.data.runners
    (request,) = _events(sim, race_id)
    assert request.query == {
        "with_money_tracker": "true",
        "with_tote_trends_data": "true",
        "with_will_pays": "true",
    }
    ok = [entry for entry in logs if entry["event"] == "nztab request"]
    assert ok == [
        {
            "event": "nztab request",
            "log_level": "info",
            "endpoint": "events",
            "raceId": race_id,
            "attempts": 1,
            "status": 200,
            "duration_ms": ok[0]["duration_ms"],
            "simulated": True,
        }
    ]
    (attempt,) = _attempt_logs(logs)
    assert (attempt["attempt"], attempt["status"], attempt["raceId"]) == (1, 200, race_id)
    assert attempt["duration_ms"] >= 0


async def test_identity_headers_reach_the_server(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    await client.race_event(race_id)
    (request,) = _events(sim, race_id)
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"] == f"raceday/{__version__}"
    assert request.headers["from"] == FROM
    assert request.headers["x-partner"] == PARTNER
    assert request.headers["x-partner-id"] == KEY


async def test_no_partner_id_header_without_a_key(sim: Simulator, race_id: str) -> None:
    async with _client(sim.base_url, api_key=None) as client:
        await client.race_event(race_id)
    (request,) = _events(sim, race_id)
    assert "x-partner-id" not in request.headers
    assert request.headers["from"] == FROM


async def test_from_settings(sim: Simulator, race_id: str) -> None:
    settings = Settings(
        nztab_api_url=sim.base_url,
        nztab_api_key=KEY,
        nztab_from_email=FROM,
        nztab_partner_name=PARTNER,
    )
    async with NzTabClient.from_settings(settings, retry=FAST) as client:
        await client.race_event(race_id)
    (request,) = _events(sim, race_id)
    assert (request.headers["x-partner-id"], request.headers["x-partner"]) == (KEY, PARTNER)


async def test_from_settings_needs_a_url() -> None:
    with pytest.raises(ValueError, match="NZTAB_API_URL"):
        NzTabClient.from_settings(Settings(nztab_api_url=None))


async def test_base_url_may_include_the_api_prefix(sim: Simulator, race_id: str) -> None:
    async with _client(f"{sim.base_url}/affiliates/v1/") as client:
        response = await client.race_event(race_id)
    assert response.data.race.event_id == race_id


async def test_shared_http_session_is_left_open(sim: Simulator, race_id: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with _client(sim.base_url, http=http) as client:
            await client.race_event(race_id)
        assert not http.closed
        await _client(sim.base_url, http=http).race_event(race_id)


async def test_own_session_is_closed_and_reopened_on_use(sim: Simulator, race_id: str) -> None:
    client = _client(sim.base_url)
    await client.race_event(race_id)
    session = client._http
    assert session is not None
    await client.aclose()
    assert session.closed
    response = await client.race_event(race_id)
    assert response.data.race.event_id == race_id
    await client.aclose()


async def test_meeting_by_id(sim: Simulator, client: NzTabClient) -> None:
    wanted = sim.day.meetings[1]
    response = await client.meeting(wanted.meeting_id)
    assert response.data.meeting.meeting_id == wanted.meeting_id
    assert {race.id for race in response.data.meeting.races} == {race.race_id for race in wanted.races}


# --- paging and filters ----------------------------------------------------------------------


async def test_meetings_page_past_the_100_meeting_limit() -> None:
    async with (
        serve_simulator(seed=5, meetings="AUS:G=60,NZ:T=30,AUS:T=20") as sim,
        _client(sim.base_url) as client,
    ):
        response = await client.meetings(sim.day.nz_date)
    assert len(response.data.meetings) == 110
    assert {m.meeting_id for m in response.data.meetings} == {m.meeting_id for m in sim.day.meetings}
    pages = [(r.query["limit"], r.query["offset"]) for r in sim.requests if r.endpoint == "meetings"]
    assert pages == [("100", "0"), ("100", "100")]
    assert response.simulated is True


async def test_meetings_small_pages_give_the_same_day(sim: Simulator, client: NzTabClient) -> None:
    whole = await client.meetings(sim.day.nz_date)
    paged = await client.meetings(sim.day.nz_date, page_size=2)
    assert [m.meeting_id for m in paged.data.meetings] == [m.meeting_id for m in whole.data.meetings]
    assert len(whole.data.meetings) == 5
    offsets = [r.query["offset"] for r in sim.requests if r.query.get("limit") == "2"]
    assert offsets == ["0", "2", "4"]


async def test_meetings_filters(sim: Simulator, client: NzTabClient) -> None:
    response = await client.meetings(sim.day.nz_date, countries=["nz"], categories=["T", "H"])
    assert sorted((m.country, m.category) for m in response.data.meetings) == [
        ("NZ", "H"),
        ("NZ", "T"),
        ("NZ", "T"),
    ]
    (request,) = [r for r in sim.requests if r.endpoint == "meetings"]
    # The API documents one value per filter: one is sent, several are applied by the client.
    assert request.query["country"] == "NZ"
    assert "category" not in request.query


async def test_races_list_follows_page_tokens(sim: Simulator, client: NzTabClient) -> None:
    whole = await client.races_list(date_from=sim.day.nz_date, date_to=sim.day.nz_date, limit=200)
    paged = await client.races_list(date_from=sim.day.nz_date, date_to=sim.day.nz_date, limit=7)
    assert len(whole.data.races) > 7
    assert [r.id for r in paged.data.races] == [r.id for r in whole.data.races]
    assert paged.data.next_page_token == ""
    small_pages = [r for r in sim.requests if r.endpoint == "list" and r.query["limit"] == "7"]
    assert len(small_pages) == -(-len(whole.data.races) // 7)
    assert "page_token" not in small_pages[0].query
    assert all(r.query["page_token"] for r in small_pages[1:])


# --- faults: retried ---------------------------------------------------------------------------


async def test_latency_succeeds_slower(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", race_id=race_id, kind="latency", delay_s=0.3))
    with capture_logs() as logs:
        response = await client.race_event(race_id)
    assert response.data.race.event_id == race_id
    assert len(_events(sim, race_id)) == 1
    (attempt,) = _attempt_logs(logs)
    assert attempt["duration_ms"] >= 300


async def test_persistent_timeout_gives_up_after_four_attempts() -> None:
    async with serve_simulator(seed=11, meetings=SMALL_DAY) as sim:
        race_id = sim.day.races[0].race_id
        # `times` above what the client may use: what is left of it counts the arrivals.
        sim.faults.add(FaultRule(endpoint="events", kind="timeout", delay_s=5.0, times=10))
        async with _client(sim.base_url, timeout=0.2) as client:
            with capture_logs() as logs, pytest.raises(NzTabUnavailable) as caught:
                await client.race_event(race_id)
        (rule,) = sim.faults.describe()
        assert rule["remaining"] == 6
    error = caught.value
    assert (error.status, error.attempts, error.endpoint, error.race_id) == (None, 4, "events", race_id)
    assert "timed out" in str(error)
    attempts = _attempt_logs(logs)
    assert [(a["attempt"], a["error"], a["will_retry"]) for a in attempts] == [
        (1, "timeout", True),
        (2, "timeout", True),
        (3, "timeout", True),
        (4, "timeout", False),
    ]
    assert all(a["duration_ms"] >= 200 for a in attempts)
    (failed,) = [entry for entry in logs if entry["event"] == "nztab request failed"]
    assert (failed["attempts"], failed["raceId"], failed["log_level"]) == (4, race_id, "warning")
    assert failed["duration_ms"] >= 800


async def test_timeout_on_first_attempts_then_success() -> None:
    async with serve_simulator(seed=11, meetings=SMALL_DAY) as sim:
        race_id = sim.day.races[0].race_id
        sim.faults.add(FaultRule(endpoint="events", kind="timeout", delay_s=5.0, times=2))
        async with _client(sim.base_url, timeout=0.2) as client:
            with capture_logs() as logs:
                response = await client.race_event(race_id)
        assert len(sim.faults) == 0  # the rule was used up by exactly two requests
        answered = [r for r in _events(sim, race_id) if r.fault is None]
        assert [r.status for r in answered] == [200]
    assert response.data.race.event_id == race_id
    assert [a.get("error", a.get("status")) for a in _attempt_logs(logs)] == ["timeout", "timeout", 200]
    (ok,) = [entry for entry in logs if entry["event"] == "nztab request"]
    assert ok["attempts"] == 3


async def test_5xx_is_retried_until_success(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="error", status=503, times=2))
    response = await client.race_event(race_id)
    assert response.data.race.event_id == race_id
    assert [r.status for r in _events(sim, race_id)] == [503, 503, 200]


async def test_persistent_5xx_gives_up(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="error", status=500))
    with pytest.raises(NzTabUnavailable, match=r"after 4 attempts: HTTP 500") as caught:
        await client.race_event(race_id)
    assert (caught.value.status, caught.value.attempts) == (500, 4)
    assert [r.status for r in _events(sim, race_id)] == [500] * 4


async def test_default_backoff_grows_exponentially(sim: Simulator, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="error", status=502))
    async with _client(sim.base_url, retry=RetryPolicy()) as client:
        with pytest.raises(NzTabUnavailable):
            await client.race_event(race_id)
    times = [r.sim_time for r in _events(sim, race_id)]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 3
    # 100, 200, 400 ms plus jitter, measured between the server's answers (sim time runs at 1x).
    for gap, floor in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert gap >= floor
    assert gaps[0] < gaps[2]


async def test_429_waits_as_retry_after_says(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="rate_limit", retry_after_s=0.25, times=2))
    with capture_logs() as logs:
        response = await client.race_event(race_id)
    assert response.data.race.event_id == race_id
    requests = _events(sim, race_id)
    assert [r.status for r in requests] == [429, 429, 200]
    gaps = [(b.sim_time - a.sim_time).total_seconds() for a, b in itertools.pairwise(requests)]
    # The client's own backoff is ~1 ms here, so these gaps are the server's Retry-After.
    assert all(gap >= 0.25 for gap in gaps)
    assert [a.get("retry_after") for a in _attempt_logs(logs)] == [0.25, 0.25, None]


async def test_persistent_429_gives_up(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="rate_limit", retry_after_s=0.01))
    with pytest.raises(NzTabUnavailable) as caught:
        await client.race_event(race_id)
    assert (caught.value.status, caught.value.attempts) == (429, 4)
    assert len(_events(sim, race_id)) == 4


async def test_retry_after_beyond_the_cap_ends_the_call(
    sim: Simulator, client: NzTabClient, race_id: str
) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="rate_limit", retry_after_s=30))
    with pytest.raises(NzTabUnavailable, match="asks for 30 s") as caught:
        await client.race_event(race_id)
    assert (caught.value.status, caught.value.retry_after, caught.value.attempts) == (429, 30, 1)
    assert len(_events(sim, race_id)) == 1


async def test_connection_refused_is_retried_then_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now; attempts are counted from the client's own log.
    async with _client(f"http://127.0.0.1:{port}") as client:
        with capture_logs() as logs, pytest.raises(NzTabUnavailable, match="after 4 attempts") as caught:
            await client.race_event("some-race")
    assert caught.value.status is None
    attempts = _attempt_logs(logs)
    assert len(attempts) == 4
    assert all("ClientConnectorError" in a["error"] for a in attempts)


async def test_a_body_cut_short_is_retried_then_unavailable() -> None:
    """The server promises 10,000 bytes, sends 100 and hangs up: never a half-read body."""
    arrivals = 0

    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrivals
        arrivals += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n")
        writer.write(b'{"header": ' + b" " * 89)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut_short, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, _client(f"http://127.0.0.1:{port}") as client:
        with capture_logs() as logs, pytest.raises(NzTabUnavailable, match="after 4 attempts") as caught:
            await client.race_event("some-race")
    assert (caught.value.status, arrivals) == (None, 4)
    assert all("ClientPayloadError" in a["error"] for a in _attempt_logs(logs))


# --- faults: not retried -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_other_4xx_is_not_retried(
    sim: Simulator, client: NzTabClient, race_id: str, status: int
) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="error", status=status))
    with pytest.raises(NzTabUnavailable, match=f"^HTTP {status}$") as caught:
        await client.race_event(race_id)
    assert (caught.value.status, caught.value.attempts) == (status, 1)
    assert [r.status for r in _events(sim, race_id)] == [status]


async def test_unknown_race_is_a_single_404(sim: Simulator, client: NzTabClient) -> None:
    with pytest.raises(NzTabUnavailable) as caught:
        await client.race_event("no-such-race")
    assert caught.value.status == 404
    assert [r.status for r in _events(sim, "no-such-race")] == [404]


async def test_malformed_json_is_not_retried(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="malformed"))
    with capture_logs() as logs, pytest.raises(NzTabPayloadError, match=r"^body: not valid JSON") as caught:
        await client.race_event(race_id)
    assert (caught.value.path, caught.value.race_id) == ("body", race_id)
    assert len(_events(sim, race_id)) == 1
    (invalid,) = [entry for entry in logs if entry["event"] == "nztab payload invalid"]
    assert (invalid["path"], invalid["status"], invalid["raceId"]) == ("body", 200, race_id)


@pytest.mark.parametrize(
    ("endpoint", "field", "path"),
    [
        ("events", "data.race.status", "data.race.status"),
        ("events", "data.runners.2.entrant_id", "data.runners[2].entrant_id"),
        ("events", "header.generated_time", "header.generated_time"),
        ("meetings", "data.meetings.1.races", "data.meetings[1].races"),
    ],
)
async def test_missing_field_is_not_retried(
    sim: Simulator, client: NzTabClient, race_id: str, endpoint: str, field: str, path: str
) -> None:
    sim.faults.add(FaultRule(endpoint=endpoint, kind="missing_field", field=field))
    call = client.race_event(race_id) if endpoint == "events" else client.meetings(sim.day.nz_date)
    with pytest.raises(NzTabPayloadError) as caught:
        await call
    assert caught.value.path == path
    assert str(caught.value) == f"{path}: field required"
    assert len([r for r in sim.requests if r.endpoint == endpoint]) == 1


async def test_errors_share_one_base(sim: Simulator, client: NzTabClient, race_id: str) -> None:
    sim.faults.add(FaultRule(endpoint="events", kind="malformed", times=1))
    sim.faults.add(FaultRule(endpoint="events", kind="error", status=404, times=1))
    for _ in range(2):
        with pytest.raises(NzTabError):
            await client.race_event(race_id)


# --- the key stays secret ------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Our real logging setup, at debug, writing to a buffer; restored afterwards."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("debug", "test", stream=stream)
    yield stream
    structlog.configure(**saved_config)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


async def test_key_never_in_logs_or_errors(json_log: io.StringIO, sim: Simulator, race_id: str) -> None:
    faults = [
        None,
        FaultRule(endpoint="events", kind="error", status=503, times=1),
        FaultRule(endpoint="events", kind="malformed", times=1),
        FaultRule(endpoint="events", kind="error", status=500, times=4),
        FaultRule(endpoint="events", kind="error", status=404, times=1),
    ]
    errors: list[NzTabError] = []
    async with _client(sim.base_url) as client:
        await client.meetings(sim.day.nz_date)
        for fault in faults:
            if fault is not None:
                sim.faults.add(fault)
            try:
                await client.race_event(race_id)
            except NzTabError as error:
                errors.append(error)
        assert KEY not in repr(client)
    assert [type(e) for e in errors] == [NzTabPayloadError, NzTabUnavailable, NzTabUnavailable]
    output = json_log.getvalue()
    for event in ("nztab request", "nztab attempt", "nztab request failed", "nztab payload invalid"):
        assert f'"msg": "{event}"' in output
    assert KEY not in output
    for error in errors:
        assert KEY not in str(error)
        assert KEY not in repr(error)
    assert {r.headers["x-partner-id"] for r in _events(sim, race_id)} == {KEY}  # it was sent


# --- Retry-After parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("inf", None), (None, None)],
)
async def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert _retry_after_seconds(value) == expected


async def test_retry_after_as_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    seconds = _retry_after_seconds(format_datetime(when, usegmt=True))
    assert seconds is not None
    assert 85 <= seconds <= 90
