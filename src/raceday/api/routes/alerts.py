"""GET/POST /api/user-alert-configs: the client's six alert indicators per user (domain §7.3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from raceday.api.deps import Conn
from raceday.api.errors import ERROR_RESPONSES
from raceday.api.schemas.alerts import AlertConfigs, AlertConfigsInput, AlertConfigsSaved, UserId
from raceday.db import alerts
from raceday.db.queries import Row

router = APIRouter(tags=["user alert configs"])


def _configuration(user_id: str, rows: list[Row]) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "indicators": rows,
        "toggle_all": all(row["enabled"] for row in rows),
        "audible_alerts_enabled": rows[0]["audible_alerts_enabled"] if rows else True,
    }


@router.get(
    "/user-alert-configs",
    response_model=AlertConfigs,
    responses=ERROR_RESPONSES,
    summary="A user's alert indicators; the six defaults are created on first read",
)
async def get_alert_configs(
    conn: Conn,
    user_id: Annotated[UserId, Query(alias="userId", examples=[alerts.DEFAULT_USER])] = alerts.DEFAULT_USER,
) -> Any:
    rows = await alerts.read_or_create(conn, user_id)
    return _configuration(user_id, rows)


@router.post(
    "/user-alert-configs",
    response_model=AlertConfigsSaved,
    responses=ERROR_RESPONSES,
    summary="Save some of a user's indicators (by display_order); missing slots get the defaults",
)
async def save_alert_configs(conn: Conn, payload: AlertConfigsInput) -> Any:
    user_id = payload.resolved_user(alerts.DEFAULT_USER)
    indicators = [
        alerts.Indicator(
            display_order=item.display_order,
            percentage_range_min=item.percentage_range_min,
            percentage_range_max=item.percentage_range_max,
            color=item.color.upper(),
            is_default=item.is_default,
            enabled=item.enabled,
            indicator_id=item.indicator_id,
        )
        for item in payload.indicators
    ]
    rows = await alerts.save(conn, user_id, indicators, payload.audible_alerts_enabled)
    return {"success": True, **_configuration(user_id, rows)}
