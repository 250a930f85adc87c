"""The rows one poll stores: plain frozen dataclasses of tuples, cheap to pickle back from a worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from raceday.domain.checks import Rejection
from raceday.nztab.models import RaceStatus


@dataclass(frozen=True, slots=True)
class MeetingRow:
    meeting_id: str
    meeting_name: str
    country: str
    race_type: str
    date: date
    status: str
    """`active`; the writer makes it `completed` (or `cancelled`) once every race is settled."""
    category: str | None
    category_name: str | None
    state: str | None
    track_condition: str | None
    tote_status: str | None
    data_source: str
    race_ids: tuple[str, ...] | None = None
    """The races the meetings list gives the meeting; None when the meeting comes from a race event."""


@dataclass(frozen=True, slots=True)
class RaceRow:
    race_id: str
    meeting_id: str
    name: str
    race_number: int
    start_time: datetime
    status: str | None
    """None when NZ TAB sent a status raceday doesn't know: the stored one is kept."""
    actual_start: datetime | None
    race_date_nz: date | None
    start_time_nz: str | None
    distance: int | None
    track_condition: str | None
    track_surface: str | None
    weather: str | None
    type: str | None
    country: str | None
    entrant_count: int | None
    field_size: int | None
    positions_paid: int | None
    total_prize_money: Decimal | None
    silk_url: str | None
    silk_base_url: str | None


@dataclass(frozen=True, slots=True)
class EntrantRow:
    entrant_id: str
    race_id: str
    name: str
    runner_number: int
    barrier: int | None
    jockey: str | None
    trainer_name: str | None
    silk_colours: str | None
    silk_url_64x64: str | None
    silk_url_128x128: str | None
    is_scratched: bool
    is_late_scratched: bool
    is_emergency: bool
    scratch_time: datetime | None
    favourite: bool
    mover: bool
    fixed_win_odds: Decimal | None
    fixed_place_odds: Decimal | None
    pool_win_odds: Decimal | None
    pool_place_odds: Decimal | None
    hold_percentage: Decimal | None
    bet_percentage: Decimal | None
    win_pool_percentage: Decimal | None
    place_pool_percentage: Decimal | None
    win_pool_amount: int | None
    place_pool_amount: int | None


@dataclass(frozen=True, slots=True)
class MoneyFlowRow:
    """One timeline row; `incremental_*` are filled in by the writer against stored history."""

    entrant_id: str
    hold_percentage: Decimal
    bet_percentage: Decimal
    win_pool_amount: int
    place_pool_amount: int
    total_pool_amount: int
    win_pool_percentage: Decimal | None
    place_pool_percentage: Decimal | None
    fixed_win_odds: Decimal | None
    fixed_place_odds: Decimal | None
    pool_win_odds: Decimal | None
    pool_place_odds: Decimal | None


@dataclass(frozen=True, slots=True)
class PoolRow:
    """Pool totals in dollars (NUMERIC(12,2)); the API converts to cents."""

    race_id: str
    win: Decimal
    place: Decimal
    quinella: Decimal
    trifecta: Decimal
    exacta: Decimal
    first4: Decimal
    total: Decimal
    data_quality_score: int
    extracted_pools: int


@dataclass(frozen=True, slots=True)
class ResultRow:
    race_id: str
    result_status: str
    results_data: list[dict[str, Any]]
    dividends_data: list[dict[str, Any]]
    fixed_odds_data: dict[str, dict[str, Any]]
    photo_finish: bool
    stewards_inquiry: bool
    protest_lodged: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one poll of one race stores, stamped with NZ TAB's snapshot time.

    Its parts stand alone: `has_runners` (entrants and their odds), `has_money` (money flow and the
    entrants' holds and amounts), `pools` and `result`. A part that is missing or failed its checks
    is absent here (and named in `rejections`); the stored values of that part are then kept.
    """

    meeting: MeetingRow
    race: RaceRow
    entrants: tuple[EntrantRow, ...]
    money_flow: tuple[MoneyFlowRow, ...]
    odds: tuple[tuple[str, str, Decimal], ...]
    pools: PoolRow | None
    result: ResultRow | None
    event_timestamp: datetime
    time_to_start: int
    time_interval: int
    interval_type: str
    raw_status: str
    simulated: bool
    has_runners: bool = True
    has_money: bool = True
    rejections: tuple[Rejection, ...] = ()

    @property
    def race_id(self) -> str:
        return self.race.race_id

    @property
    def is_terminal(self) -> bool:
        return self.race.status in (RaceStatus.FINAL, RaceStatus.ABANDONED)
