"""The web client's alert indicators (domain §7.3): six percentage ranges per user, one per display slot.

Reading a user's configuration creates the missing default slots; saving replaces the slots it names.
Both run in one transaction under an advisory lock per user, so concurrent first reads and saves of
the same user never collide on the (user_id, display_order) unique index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from raceday.db.queries import Row, execute, fetch, iso_instant

DEFAULT_USER = "Default User"


@dataclass(frozen=True)
class Indicator:
    """One indicator to save; `color` is upper-case `#RRGGBB`."""

    display_order: int
    percentage_range_min: float
    percentage_range_max: float | None
    color: str
    is_default: bool = False
    enabled: bool = True
    indicator_id: UUID | None = None


DEFAULTS = (
    Indicator(1, 5, 10, "#E5E7EB", is_default=True),
    Indicator(2, 10, 15, "#BFDBFE", is_default=True),
    Indicator(3, 15, 20, "#FEF3C7", is_default=True),
    Indicator(4, 20, 25, "#BBF7D0", is_default=True),
    Indicator(5, 25, 50, "#FECACA", is_default=True),
    Indicator(6, 50, None, "#F3E8FF", is_default=True),
)

# Advisory-lock class for user_alert_configs (two-key form: this class, hashtext(user_id)).
_LOCK_CLASS = 0x52444143

_SELECT_SQL = f"""
SELECT indicator_id::text AS indicator_id, user_id, indicator_type,
  percentage_range_min::float8 AS percentage_range_min,
  percentage_range_max::float8 AS percentage_range_max, color, is_default, enabled, display_order,
  audible_alerts_enabled, {iso_instant("created_at", "created_at")}, {iso_instant("updated_at", "updated_at")}
FROM user_alert_configs
WHERE user_id = %(user_id)s
ORDER BY display_order"""

_LOCK_SQL = "SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(user_id)s))"

_EXISTING_SQL = """
SELECT indicator_id, display_order, created_at, audible_alerts_enabled
FROM user_alert_configs
WHERE user_id = %(user_id)s
ORDER BY display_order"""

_TAKEN_SQL = "SELECT indicator_id FROM user_alert_configs WHERE indicator_id = ANY(%(ids)s::uuid[])"

_INSERT_DEFAULTS_SQL = """
INSERT INTO user_alert_configs (user_id, indicator_type, percentage_range_min, percentage_range_max, color,
  is_default, enabled, display_order, audible_alerts_enabled)
SELECT %(user_id)s, 'percentage_range', d.range_min, d.range_max, d.color, true, true, d.display_order,
  COALESCE((SELECT u.audible_alerts_enabled FROM user_alert_configs u
            WHERE u.user_id = %(user_id)s ORDER BY u.display_order LIMIT 1), true)
FROM unnest(%(orders)s::int[], %(mins)s::numeric[], %(maxs)s::numeric[], %(colors)s::text[])
  AS d(display_order, range_min, range_max, color)
ON CONFLICT (user_id, display_order) DO NOTHING"""

_DELETE_SQL = """
DELETE FROM user_alert_configs
WHERE user_id = %(user_id)s
  AND (display_order = ANY(%(orders)s::int[]) OR indicator_id = ANY(%(ids)s::uuid[]))"""

_INSERT_SQL = """
INSERT INTO user_alert_configs (indicator_id, user_id, indicator_type, percentage_range_min,
  percentage_range_max, color, is_default, enabled, display_order, audible_alerts_enabled, created_at)
SELECT COALESCE(d.indicator_id, gen_random_uuid()), %(user_id)s, 'percentage_range', d.range_min,
  d.range_max, d.color, d.is_default, d.enabled, d.display_order, %(audible)s, COALESCE(d.created_at, now())
FROM unnest(%(ids)s::uuid[], %(mins)s::numeric[], %(maxs)s::numeric[], %(colors)s::text[],
  %(defaults)s::bool[], %(enabled)s::bool[], %(orders)s::int[], %(created)s::timestamptz[])
  AS d(indicator_id, range_min, range_max, color, is_default, enabled, display_order, created_at)"""

_SET_AUDIBLE_SQL = """
UPDATE user_alert_configs SET audible_alerts_enabled = %(audible)s
WHERE user_id = %(user_id)s AND audible_alerts_enabled IS DISTINCT FROM %(audible)s"""


async def _lock(conn: AsyncConnection[Any], user_id: str) -> None:
    await fetch(conn, "alert_configs_lock", _LOCK_SQL, {"lock_class": _LOCK_CLASS, "user_id": user_id})


async def _insert_missing_defaults(conn: AsyncConnection[Any], user_id: str) -> None:
    params = {
        "user_id": user_id,
        "orders": [d.display_order for d in DEFAULTS],
        "mins": [d.percentage_range_min for d in DEFAULTS],
        "maxs": [d.percentage_range_max for d in DEFAULTS],
        "colors": [d.color for d in DEFAULTS],
    }
    await execute(conn, "alert_configs_defaults", _INSERT_DEFAULTS_SQL, params)


async def read_or_create(conn: AsyncConnection[Any], user_id: str) -> list[Row]:
    """The user's six indicators by display order, creating any missing slot from the defaults."""
    rows = await fetch(conn, "alert_configs", _SELECT_SQL, {"user_id": user_id})
    if len(rows) == len(DEFAULTS):
        return rows
    async with conn.transaction():
        await _lock(conn, user_id)
        await _insert_missing_defaults(conn, user_id)
        return await fetch(conn, "alert_configs", _SELECT_SQL, {"user_id": user_id})


async def save(
    conn: AsyncConnection[Any], user_id: str, indicators: Sequence[Indicator], audible: bool | None
) -> list[Row]:
    """Write the given slots (display orders must be distinct), keep the others, fill any gap with defaults.

    An indicator keeps its id and creation time: the one it names if that is the user's (or unused),
    else the id of the row already in its slot. Rows are deleted and re-inserted so that indicators can
    swap display orders without tripping the unique (user_id, display_order) index half-way.
    """
    async with conn.transaction():
        await _lock(conn, user_id)
        existing = await fetch(conn, "alert_configs_existing", _EXISTING_SQL, {"user_id": user_id})
        by_id = {row["indicator_id"]: row for row in existing}
        by_slot = {row["display_order"]: row for row in existing}
        named = [
            i.indicator_id for i in indicators if i.indicator_id is not None and i.indicator_id not in by_id
        ]
        taken = {
            row["indicator_id"]
            for row in await fetch(conn, "alert_configs_taken", _TAKEN_SQL, {"ids": [str(i) for i in named]})
        }
        claimed = {
            i.indicator_id for i in indicators if i.indicator_id is not None and i.indicator_id not in taken
        }
        ids: list[UUID | None] = []
        created: list[Any] = []
        for indicator in indicators:
            chosen = indicator.indicator_id if indicator.indicator_id in claimed else None
            slot_row = by_slot.get(indicator.display_order)
            if chosen is None and slot_row is not None and slot_row["indicator_id"] not in claimed:
                chosen = slot_row["indicator_id"]
                claimed.add(chosen)
            ids.append(chosen)
            created.append(by_id[chosen]["created_at"] if chosen in by_id else None)
        current_audible = existing[0]["audible_alerts_enabled"] if existing else True
        params = {
            "user_id": user_id,
            "ids": [str(i) if i is not None else None for i in ids],
            "mins": [i.percentage_range_min for i in indicators],
            "maxs": [i.percentage_range_max for i in indicators],
            "colors": [i.color for i in indicators],
            "defaults": [i.is_default for i in indicators],
            "enabled": [i.enabled for i in indicators],
            "orders": [i.display_order for i in indicators],
            "created": created,
            "audible": current_audible if audible is None else audible,
        }
        await execute(conn, "alert_configs_delete", _DELETE_SQL, params)
        await execute(conn, "alert_configs_insert", _INSERT_SQL, params)
        await _insert_missing_defaults(conn, user_id)
        if audible is not None:
            await execute(
                conn, "alert_configs_audible", _SET_AUDIBLE_SQL, {"user_id": user_id, "audible": audible}
            )
        return await fetch(conn, "alert_configs", _SELECT_SQL, {"user_id": user_id})
