"""Async client for the NZ TAB affiliates API: identity headers, retries, typed responses.

Every call returns a fully validated response model or raises an `NzTabError`; nothing half-parsed
escapes. Retries (via stamina) cover what another attempt can fix — timeouts, broken connections,
HTTP 5xx and 429 — never another 4xx or a payload that does not match the models. Failures are
warnings here: the caller (a poll, discovery) logs the one error line.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
import stamina
import structlog
from pydantic import SecretStr

from raceday import __version__
from raceday.core.config import Settings
from raceday.core.log import get_logger
from raceday.core.metrics import Metrics
from raceday.core.timing import elapsed_ms
from raceday.nztab.decode import M, NzTabPayloadError, NzTabUnavailable, decode_response
from raceday.nztab.models import (
    Meeting,
    MeetingResponse,
    MeetingsData,
    MeetingsResponse,
    RaceEventResponse,
    RacesListData,
    RacesListResponse,
    RaceSummary,
)

API_PREFIX = "/affiliates/v1/racing"
EVENT_FLAGS: Mapping[str, str] = {
    "with_money_tracker": "true",
    "with_tote_trends_data": "true",
    "with_will_pays": "true",
}
DEFAULT_TIMEOUT_S = 5.0
MEETINGS_PAGE_SIZE = 100
MAX_PAGES = 50
"""A guard against a server that pages forever; far above any real racing day."""

_log = get_logger(__name__)

Recorder = Callable[[str, Mapping[str, str], bytes], Awaitable[None]]
"""Given every body the client validates itself (endpoint, query, raw bytes), before validating it."""


class _Retryable(Exception):
    """A failed attempt that another may fix; `wait` is the server's Retry-After, if it sent one."""

    def __init__(self, reason: str, *, status: int | None = None, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.wait = wait


def _backoff_hook(exc: Exception) -> bool | float:
    """stamina's `on`: retry only `_Retryable`, waiting exactly Retry-After when the server gave one."""
    if isinstance(exc, _Retryable):
        return exc.wait if exc.wait is not None else True
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard each call tries.

    The defaults are the production ones: 4 attempts, backoffs of 0.1, 0.2 and 0.4 s each plus up
    to `wait_jitter`, and a Retry-After honoured as given up to `retry_after_max`; a longer one
    ends the call at once (retrying before the server allows it would only be refused again).
    """

    attempts: int = 4
    wait_initial: float = 0.1
    wait_exp_base: float = 2.0
    wait_max: float = 1.0
    wait_jitter: float = 0.05
    retry_after_max: float = 5.0


@dataclass(frozen=True, slots=True)
class _Reply:
    """A 2xx answer, its body read whole inside the attempt's timeout."""

    status: int
    content: bytes


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _outcome(status: int | None) -> str:
    """A request's outcome for the metrics: ok, or the kind of its last failure."""
    if status is None:
        return "network"
    if status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "client_error"


def _codes(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(value.strip().upper() for value in values or ())


def _event_path(race_id: str) -> str:
    return f"/events/{quote(race_id, safe='')}"


class NzTabClient:
    """The NZ TAB racing endpoints raceday uses; an async context manager.

    `base_url` is the host (e.g. https://api.tab.co.nz or a simulator's URL), without
    /affiliates/v1. An `http` session passed in is shared, not closed, and never has our headers
    set on it: they go on each request, so the partner ID lives only inside this object.

    aiohttp, not httpx: a poll's 130–200 kB body costs about a tenth of the CPU to fetch
    (`raceday bench client`), and fetching is a fair part of every poll.
    """

    def __init__(
        self,
        base_url: str,
        *,
        from_email: str,
        partner_name: str,
        api_key: SecretStr | str | None = None,
        http: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        recorder: Recorder | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics(process=False)
        root = base_url.rstrip("/").removesuffix(API_PREFIX).removesuffix("/affiliates/v1")
        self.recorder = recorder
        self.base_url = root
        self._api = root + API_PREFIX
        self._from_email = from_email
        self._partner_name = partner_name
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._owns_http = http is None
        self._http = http

    @classmethod
    def from_settings(cls, settings: Settings, *, base_url: str | None = None, **kwargs: Any) -> NzTabClient:
        """A client configured from the environment; `base_url` overrides NZTAB_API_URL (simulator)."""
        url = base_url or (str(settings.nztab_api_url) if settings.nztab_api_url else None)
        if url is None:
            raise ValueError("NZTAB_API_URL is not set and no base_url was given")
        return cls(
            url,
            from_email=settings.nztab_from_email,
            partner_name=settings.nztab_partner_name,
            api_key=settings.nztab_api_key,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"NzTabClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        """Our own session, opened at the first request: aiohttp ties it to the running event loop."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    # --- endpoints ----------------------------------------------------------------------------

    async def meetings(
        self,
        day: date,
        *,
        countries: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
        page_size: int = MEETINGS_PAGE_SIZE,
    ) -> MeetingsResponse:
        """Every meeting of the NZ racing day `day`, paging with limit/offset until a short page.

        `countries` (e.g. NZ, AUS) and `categories` (T, H, G) filter the result. The API documents
        a single value for each, so one value is also sent as a query filter; several are applied
        here. The header is the first page's.
        """
        wanted_countries, wanted_categories = _codes(countries), _codes(categories)
        params = {"date_from": day.isoformat(), "date_to": day.isoformat(), "limit": str(page_size)}
        if len(wanted_countries) == 1:
            params["country"] = next(iter(wanted_countries))
        if len(wanted_categories) == 1:
            params["category"] = next(iter(wanted_categories))

        first: MeetingsResponse | None = None
        found: dict[str, Meeting] = {}
        offset = 0
        for _ in range(MAX_PAGES):
            page = await self._get(
                MeetingsResponse, "meetings", "/meetings", params | {"offset": str(offset)}
            )
            first = first or page
            batch = page.data.meetings
            fresh = [meeting for meeting in batch if meeting.meeting not in found]
            found.update((meeting.meeting, meeting) for meeting in fresh)
            if len(batch) < page_size or not fresh:
                break
            offset += len(batch)
        else:
            _log.warning("nztab paging stopped", endpoint="meetings", pages=MAX_PAGES, found=len(found))
        assert first is not None
        kept = tuple(
            meeting
            for meeting in found.values()
            if (not wanted_countries or meeting.country.upper() in wanted_countries)
            and (not wanted_categories or meeting.category.upper() in wanted_categories)
        )
        return first.model_copy(update={"data": MeetingsData(meetings=kept)})

    async def meeting(self, meeting_id: str) -> MeetingResponse:
        """One meeting with its races; `data.meeting` is it."""
        return await self._get(
            MeetingResponse, "meeting", f"/meetings/{quote(meeting_id, safe='')}", {}, meeting_id=meeting_id
        )

    async def races_list(
        self,
        *,
        date_from: date | str = "today",
        date_to: date | str | None = None,
        countries: Iterable[str] | None = None,
        meet_types: Iterable[str] | None = None,
        limit: int = 100,
    ) -> RacesListResponse:
        """`/racing/list`, following `next_page_token` to the end; the header is the first page's.

        The returned `next_page_token` is empty unless paging stopped at the page guard.
        """
        params = {"date_from": str(date_from), "limit": str(limit)}
        if date_to is not None:
            params["date_to"] = str(date_to)
        if countries:
            params["countries"] = ",".join(sorted(_codes(countries)))
        if meet_types:
            params["meet_types"] = ",".join(sorted(_codes(meet_types)))

        first: RacesListResponse | None = None
        races: list[RaceSummary] = []
        token = ""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = await self._get(
                RacesListResponse, "list", "/list", params | ({"page_token": token} if token else {})
            )
            first = first or page
            races.extend(page.data.races)
            token = page.data.next_page_token
            if not token or token in seen or not page.data.races:
                token = ""
                break
            seen.add(token)
        else:
            _log.warning("nztab paging stopped", endpoint="list", pages=MAX_PAGES, found=len(races))
        assert first is not None
        return first.model_copy(update={"data": RacesListData(races=tuple(races), next_page_token=token)})

    async def race_event(self, race_id: str) -> RaceEventResponse:
        """The race event with runners, money tracker, tote pools, results and dividends."""
        return await self._get(
            RaceEventResponse, "events", _event_path(race_id), EVENT_FLAGS, race_id=race_id
        )

    async def race_event_bytes(self, race_id: str) -> bytes:
        """The race event's raw body (fetched with retries), for validation in a worker process.

        Validation is CPU work: the pipeline runs it off the event loop with `decode_response`.
        """
        response, log, started, attempts = await self._fetch(
            "events", _event_path(race_id), EVENT_FLAGS, race_id=race_id
        )
        log.info("nztab request", attempts=attempts, duration_ms=elapsed_ms(started), status=response.status)
        return response.content

    # --- transport ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"raceday/{__version__}",
            "From": self._from_email,
            "X-Partner": self._partner_name,
        }
        if self._api_key is not None:
            headers["X-Partner-ID"] = self._api_key.get_secret_value()
        return headers

    async def _get(
        self,
        model: type[M],
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        *,
        race_id: str | None = None,
        meeting_id: str | None = None,
    ) -> M:
        """Fetch (with retries) and validate in one step: nothing half-parsed gets out."""
        response, log, started, attempts = await self._fetch(
            endpoint, path, params, race_id=race_id, meeting_id=meeting_id
        )
        if self.recorder is not None:
            await self.recorder(endpoint, params, response.content)
        try:
            result = decode_response(model, response.content, endpoint=endpoint, race_id=race_id)
        except NzTabPayloadError as exc:
            log.warning(
                "nztab payload invalid",
                attempts=attempts,
                duration_ms=elapsed_ms(started),
                status=response.status,
                path=exc.path,
                error=str(exc),
            )
            raise
        log.info(
            "nztab request",
            attempts=attempts,
            duration_ms=elapsed_ms(started),
            status=response.status,
            simulated=result.simulated,
        )
        return result

    async def _fetch(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str],
        *,
        race_id: str | None = None,
        meeting_id: str | None = None,
    ) -> tuple[_Reply, structlog.stdlib.BoundLogger, float, int]:
        """The 2xx response after retries, with the bound logger, start time and attempt count."""
        context: dict[str, str] = {"endpoint": endpoint}
        if race_id is not None:
            context["raceId"] = race_id
        if meeting_id is not None:
            context["meetingId"] = meeting_id
        log = _log.bind(**context)
        policy = self._retry
        started = time.perf_counter()
        attempts = 0
        try:
            async for attempt in stamina.retry_context(
                on=_backoff_hook,
                attempts=policy.attempts,
                timeout=None,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
                wait_exp_base=policy.wait_exp_base,
            ):
                with attempt:
                    attempts = attempt.num
                    response = await self._attempt(
                        self._api + path,
                        params,
                        endpoint=endpoint,
                        race_id=race_id,
                        log=log,
                        attempt=attempts,
                    )
        except _Retryable as exc:
            log.warning(
                "nztab request failed",
                attempts=attempts,
                duration_ms=elapsed_ms(started),
                status=exc.status,
                error=exc.reason,
            )
            self._count(endpoint, attempts, exc.status)
            raise NzTabUnavailable(
                f"{endpoint} unavailable after {attempts} attempts: {exc.reason}",
                endpoint=endpoint,
                race_id=race_id,
                status=exc.status,
                attempts=attempts,
            ) from exc
        except NzTabUnavailable as exc:
            exc.attempts = attempts
            log.warning(
                "nztab request failed",
                attempts=attempts,
                duration_ms=elapsed_ms(started),
                status=exc.status,
                error=str(exc),
            )
            self._count(endpoint, attempts, exc.status)
            raise
        self._count(endpoint, attempts, response.status)
        return response, log, started, attempts

    def _count(self, endpoint: str, attempts: int, status: int | None) -> None:
        """A request's outcome (ok, or why it failed in the end) and the retries it took."""
        self.metrics.nztab_requests.labels(endpoint, _outcome(status)).inc()
        if attempts > 1:
            self.metrics.nztab_retries.labels(endpoint).inc(attempts - 1)

    async def _attempt(
        self,
        url: str,
        params: Mapping[str, str],
        *,
        endpoint: str,
        race_id: str | None,
        log: structlog.stdlib.BoundLogger,
        attempt: int,
    ) -> _Reply:
        """One request: the reply if it is a 2xx, else `_Retryable` or `NzTabUnavailable`."""
        final = attempt >= self._retry.attempts
        started = time.perf_counter()

        def record(level: str, **fields: Any) -> None:
            getattr(log, level)("nztab attempt", attempt=attempt, duration_ms=elapsed_ms(started), **fields)

        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session().get(url, params=params, headers=self._headers()) as response,
            ):
                status = response.status
                retry_after = response.headers.get("Retry-After")
                content = await response.read()
        except TimeoutError as exc:
            record("warning", error="timeout", will_retry=not final)
            raise _Retryable(f"timed out after {self._timeout:g} s") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            reason = f"connection failed ({type(exc).__name__}: {exc})"
            record("warning", error=reason, will_retry=not final)
            raise _Retryable(reason) from exc
        except aiohttp.ClientError as exc:
            reason = f"request failed ({type(exc).__name__}: {exc})"
            record("error", error=reason, will_retry=False)
            raise NzTabUnavailable(reason, endpoint=endpoint, race_id=race_id) from exc

        if 200 <= status < 300:
            record("debug", status=status)
            return _Reply(status, content)
        if status == 429 or status >= 500:
            wait = _retry_after_seconds(retry_after)
            if wait is not None and wait > self._retry.retry_after_max:
                record("warning", status=status, retry_after=wait, will_retry=False)
                raise NzTabUnavailable(
                    f"HTTP {status}: server asks for {wait:g} s before a retry",
                    endpoint=endpoint,
                    race_id=race_id,
                    status=status,
                    retry_after=wait,
                )
            record("warning", status=status, retry_after=wait, will_retry=not final)
            raise _Retryable(f"HTTP {status}", status=status, wait=wait)
        record("error", status=status, will_retry=False)
        raise NzTabUnavailable(f"HTTP {status}", endpoint=endpoint, race_id=race_id, status=status)
