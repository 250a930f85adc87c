"""Typed views of NZ TAB affiliates API responses, modelled on real captured responses.

The API's schema is open (fields vary by partner, country and race state), so unknown fields are
ignored and only what raceday reads is typed. A field that real data omits or nulls is optional;
list fields the API nulls when a feature is not requested come out as empty tuples. Money and odds
are `Decimal`, so cents can be computed without float rounding.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import UTC, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    PlainValidator,
    model_validator,
)
from pydantic_core import core_schema

from raceday.core.nztime import NZ

_SUB_MICROSECONDS = re.compile(r"(\.\d{6})\d+")
_LOCAL_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s+([A-Za-z]+))?\s*$")
_DIGITS = re.compile(r"\d+")


def _trim_to_microseconds(value: object) -> object:
    """The API (Go) sends nanoseconds; Python datetimes hold microseconds, so drop the rest."""
    if isinstance(value, str):
        return _SUB_MICROSECONDS.sub(r"\1", value, count=1)
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _none_as_empty(value: object) -> object:
    """The API sends `null` for lists it has nothing for (e.g. `big_bets` when not requested)."""
    return () if value is None else value


def _null_or_items(source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
    """The tuple's own schema, made nullable, then `null` read as empty. A before-validator would do the
    same at ten times the cost: it is handed the raw input, so every ignored field of every runner (a
    real runner carries 26 kB of past starts) would first be built as Python objects."""
    return core_schema.no_info_after_validator_function(
        _none_as_empty, core_schema.nullable_schema(handler(source))
    )


def _int_or_str(value: object) -> int | str | None:
    """Barriers are integers for gallops but may be labels such as "Fr1" in harness racing."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("expected an integer or a string")


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_trim_to_microseconds), AfterValidator(_to_utc)]
"""An instant with an explicit offset in the payload, normalised to UTC."""

T = TypeVar("T")
Items = Annotated[tuple[T, ...], GetPydanticSchema(_null_or_items)]
Barrier = Annotated[int | str | None, PlainValidator(_int_or_str)]


class RaceStatus(StrEnum):
    """Race statuses raceday stores: the API's value, lower-cased (domain §2)."""

    OPEN = "open"
    CLOSED = "closed"
    INTERIM = "interim"
    FINAL = "final"
    ABANDONED = "abandoned"

    @property
    def is_terminal(self) -> bool:
        return self in (RaceStatus.FINAL, RaceStatus.ABANDONED)


def parse_race_status(raw: str) -> RaceStatus | None:
    """The stored status for an API status such as "Final"; None for a value raceday doesn't know."""
    try:
        return RaceStatus(raw.strip().lower())
    except ValueError:
        return None


def _parse_barrier(value: int | str | None) -> int | None:
    if isinstance(value, int):
        return value
    if value:
        digits = _DIGITS.search(value)
        if digits:
            return int(digits.group())
    return None


class ApiModel(BaseModel):
    """Base of every response model: read-only, tolerant of fields we don't know."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --- envelope ---------------------------------------------------------------------------------


class Header(ApiModel):
    title: str
    generated_time: UtcDatetime
    """When NZ TAB produced this snapshot: raceday's `event_timestamp`."""
    url: str
    simulated: bool = False
    """Set by raceday's simulator, never by NZ TAB: how stored data is known to be simulated."""


DataT = TypeVar("DataT")


class Envelope(ApiModel, Generic[DataT]):
    """`{header, params, data}`: the shape of every NZ TAB response."""

    header: Header
    params: dict[str, Any] = Field(default_factory=dict)
    data: DataT

    @property
    def simulated(self) -> bool:
        return self.header.simulated

    @property
    def generated_time(self) -> datetime:
        return self.header.generated_time


# --- meetings (/racing/meetings, /racing/meetings/{id}) -------------------------------------------


class MeetingRace(ApiModel):
    """A race as listed inside a meeting; it has no `race_date_nz`/`start_time_nz`."""

    id: str
    race_number: int
    name: str
    start_time: UtcDatetime
    status: str
    tote_start_time: str | None = None
    """NZ local "HH:MM:SS"; missing for many overseas races."""
    track_condition: str | None = None
    distance: int | None = None
    weather: str | None = None
    country: str | None = None
    state: str | None = None
    protest: bool = False
    protest_reason: str | None = None

    @property
    def race_status(self) -> RaceStatus | None:
        return parse_race_status(self.status)


class Meeting(ApiModel):
    meeting: str
    """The meeting's UUID (the API calls the id field `meeting`)."""
    name: str
    date: UtcDatetime
    """UTC midnight of the NZ racing date."""
    category: str
    """`T` thoroughbred, `H` harness, `G` greyhound."""
    country: str
    category_name: str | None = None
    state: str | None = None
    track_condition: str | None = None
    tote_status: str | None = None
    tote_meeting_number: int | None = None
    tote_raceday_date: dt.date | None = None
    meeting_date: str | None = None
    """Meeting-by-id only; the spec says yyyymmdd but real data is ISO, so it is kept as given."""
    meeting_type: str | None = None
    club_mnemonic: str | None = None
    video_channels: Items[str] = ()
    races: Items[MeetingRace]

    @property
    def meeting_id(self) -> str:
        return self.meeting

    @property
    def racing_date(self) -> dt.date:
        """The NZ racing day: the date part of `date` (domain §1.7)."""
        return self.date.date()


class MeetingsData(ApiModel):
    meetings: Items[Meeting]


class MeetingDetailData(ApiModel):
    """`/racing/meetings/{id}`: the list shape, holding exactly the one meeting asked for."""

    meetings: Annotated[tuple[Meeting, ...], Field(min_length=1, max_length=1)]

    @property
    def meeting(self) -> Meeting:
        return self.meetings[0]


# --- races list (/racing/list) ----------------------------------------------------------------


class RaceSummary(ApiModel):
    """A race in `/racing/list`; unlike the event, its starts are ISO strings."""

    id: str
    name: str
    meeting_id: str
    advertised_start: UtcDatetime
    number: int | None = None
    """The race number; absent for some entries in real data."""
    actual_start: UtcDatetime | None = None
    silk_url: str | None = None
    protest: bool = False
    protest_reason: str | None = None


class RacesListData(ApiModel):
    races: Items[RaceSummary]
    next_page_token: str = ""


# --- race event (/racing/events/{id}) ---------------------------------------------------------


class Race(ApiModel):
    """`data.race`. It has no `id` or `name`: those are `event_id` and `description`."""

    event_id: str
    meeting_id: str
    status: str
    description: str
    race_number: int
    advertised_start: int | None = None
    """Epoch seconds (UTC)."""
    actual_start: int | None = None
    """Epoch seconds (UTC); 0 or absent until the race has started."""
    advertised_start_string: str | None = None
    actual_start_string: str | None = None
    race_date_nz: dt.date | None = None
    start_time_nz: str | None = None
    """NZ local "HH:MM:SS NZST" (or NZDT)."""
    meeting_name: str | None = None
    type: str | None = None
    """The category: `T`, `H` or `G`."""
    country: str | None = None
    state: str | None = None
    distance: int | None = None
    weather: str | None = None
    track_condition: str | None = None
    track_surface: str | None = None
    track_direction: str | None = None
    rail_position: str | None = None
    entrant_count: int | None = None
    field_size: int | None = None
    positions_paid: int | None = None
    silk_url: str | None = None
    silk_base_url: str | None = None
    video_channels: Items[str] = ()
    prize_monies: dict[str, Decimal] | None = None

    @model_validator(mode="after")
    def _has_a_start(self) -> Race:
        if not self.advertised_start and self._nz_local_start() is None:
            raise ValueError("no start time: needs advertised_start, or race_date_nz with start_time_nz")
        return self

    def _nz_local_start(self) -> datetime | None:
        if self.race_date_nz is None or self.start_time_nz is None:
            return None
        match = _LOCAL_TIME.match(self.start_time_nz)
        if match is None:
            return None
        hour, minute, second, zone = match.groups()
        # In the repeated hour when daylight saving ends, the zone abbreviation tells which it is.
        fold = 1 if (zone or "").upper() == "NZST" else 0
        local = time(int(hour), int(minute), int(second or 0), fold=fold)
        return datetime.combine(self.race_date_nz, local, tzinfo=NZ)

    @property
    def start_utc(self) -> datetime:
        """`advertised_start`, else `race_date_nz` + `start_time_nz` in Pacific/Auckland."""
        if self.advertised_start:
            return datetime.fromtimestamp(self.advertised_start, UTC)
        local = self._nz_local_start()
        assert local is not None  # guaranteed by _has_a_start
        return local.astimezone(UTC)

    @property
    def actual_start_utc(self) -> datetime | None:
        return datetime.fromtimestamp(self.actual_start, UTC) if self.actual_start else None

    @property
    def race_status(self) -> RaceStatus | None:
        return parse_race_status(self.status)


class Odds(ApiModel):
    fixed_win: Decimal | None = None
    fixed_place: Decimal | None = None
    pool_win: Decimal | None = None
    pool_place: Decimal | None = None


class Runner(ApiModel):
    """An entrant in `data.runners`."""

    entrant_id: str
    runner_number: int
    name: str
    barrier: Barrier = None
    """As given: an integer, or a label such as "Fr1" (harness)."""
    barrier_position: str | None = None
    """Harness only, per the OpenAPI spec."""
    jockey: str | None = None
    """The driver, in harness racing."""
    trainer_name: str | None = None
    silk_colours: str | None = None
    silk_url_64x64: str | None = None
    silk_url_128x128: str | None = None
    is_scratched: bool = False
    is_late_scratched: bool = False
    is_emergency: bool = False
    scratch_time: int | None = None
    """Epoch seconds the scratching was declared; 0 when not scratched."""
    odds: Odds = Odds()
    favourite: bool = False
    mover: bool = False
    runner_change: dict[str, str] | None = None

    @property
    def barrier_number(self) -> int | None:
        """The barrier as an integer: the digits of a label like "Fr1", else `barrier_position`'s."""
        number = _parse_barrier(self.barrier)
        return number if number is not None else _parse_barrier(self.barrier_position)

    @property
    def scratched_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.scratch_time, UTC) if self.scratch_time else None


class MoneyTrackerEntry(ApiModel):
    """One slice of an entrant's share; an entrant's share is the sum of its slices (domain §3.2)."""

    entrant_id: str
    hold_percentage: Decimal
    bet_percentage: Decimal


class MoneyTracker(ApiModel):
    entrants: Items[MoneyTrackerEntry] = ()


class ToteTrends(ApiModel):
    pool_total: Decimal | None = None
    tote_trends_data: str | None = None
    """Raw XML with per-runner investments (exotic pools only)."""
    final_leg_start_time: str | None = None


class TotePool(ApiModel):
    product_type: str
    """`Win`, `Place`, `Quinella`, `Trifecta`, `FirstFour`, `EarlyQuadrella`, …"""
    total: Decimal
    """Dollars."""
    status: str | None = None
    is_final: bool = False
    """Absent on some pools (EarlyQuadrella in the sample)."""
    guarantee: Decimal | None = None
    brought_forward: Decimal | None = None
    jackpot: Decimal | None = None
    is_commingled: bool | None = None
    win_investment: str | None = None
    tote_trends: ToteTrends | None = None


class Result(ApiModel):
    position: int
    name: str
    runner_number: int
    entrant_id: str
    barrier: Barrier = None
    margin_length: Decimal | None = None
    positional_margin: str | None = None
    winning_time: Decimal | None = None
    time_ran: Decimal | None = None


class DividendPosition(ApiModel):
    runner_number: int
    position: int


class Dividend(ApiModel):
    id: str
    product_name: str
    """`Pool Win`, `Pool Place`, `Pool Quinella`, `Pool Trifecta`, `Pool First4`, …"""
    status: str
    """`Interim` or `Final`; each product appears once with each."""
    dividend: Decimal
    tote: str | None = None
    pool_size: Decimal | None = None
    jackpot_size: Decimal | None = None
    positions: Items[DividendPosition] = ()
    description: str | None = None


class RaceEventData(ApiModel):
    race: Race
    runners: Items[Runner] = ()
    money_tracker: MoneyTracker | None = None
    """Present when requested with `with_money_tracker=true` (the client always asks)."""
    tote_pools: Items[TotePool] = ()
    results: Items[Result] = ()
    dividends: Items[Dividend] = ()
    error: str | None = None

    def tote_pool(self, product_type: str) -> TotePool | None:
        """The pool of that product type, matched case-insensitively."""
        wanted = product_type.casefold()
        return next((p for p in self.tote_pools if p.product_type.casefold() == wanted), None)


MeetingsResponse = Envelope[MeetingsData]
MeetingResponse = Envelope[MeetingDetailData]
RacesListResponse = Envelope[RacesListData]
RaceEventResponse = Envelope[RaceEventData]
