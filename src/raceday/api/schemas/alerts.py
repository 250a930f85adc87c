"""The client's alert indicators: what is read and what may be saved."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from raceday.api.schemas.common import Instant, Percent


class AlertIndicator(BaseModel):
    indicator_id: str
    user_id: str
    indicator_type: Literal["percentage_range"]
    percentage_range_min: Percent
    percentage_range_max: Percent | None = Field(description="null: open-ended")
    color: str = Field(pattern=r"^#[0-9A-F]{6}$", examples=["#E5E7EB"])
    is_default: bool
    enabled: bool
    display_order: int = Field(ge=1, le=6)
    audible_alerts_enabled: bool
    created_at: Instant
    updated_at: Instant


class AlertConfigs(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "Default User",
                    "indicators": [
                        {
                            "indicator_id": "2b0f1f5e-8f53-4b52-9a8e-3f8b8f1f6a11",
                            "user_id": "Default User",
                            "indicator_type": "percentage_range",
                            "percentage_range_min": 5.0,
                            "percentage_range_max": 10.0,
                            "color": "#E5E7EB",
                            "is_default": True,
                            "enabled": True,
                            "display_order": 1,
                            "audible_alerts_enabled": True,
                            "created_at": "2025-07-17T00:00:00.000Z",
                            "updated_at": "2025-07-17T00:00:00.000Z",
                        }
                    ],
                    "toggle_all": True,
                    "audible_alerts_enabled": True,
                }
            ]
        }
    )

    user_id: str
    indicators: list[AlertIndicator] = Field(description="Six indicators, by display_order")
    toggle_all: bool = Field(description="True when every indicator is enabled")
    audible_alerts_enabled: bool


class AlertConfigsSaved(AlertConfigs):
    success: Literal[True] = True


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


UserId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]


class IndicatorInput(BaseModel):
    """One indicator to save; snake_case and the client's camelCase names are both accepted."""

    model_config = ConfigDict(extra="ignore")

    indicator_id: UUID | None = Field(
        default=None, validation_alias=AliasChoices("indicator_id", "indicatorId", "$id")
    )
    user_id: UserId | None = Field(default=None, validation_alias=AliasChoices("user_id", "userId"))
    indicator_type: Literal["percentage_range"] = Field(
        default="percentage_range", validation_alias=AliasChoices("indicator_type", "indicatorType")
    )
    percentage_range_min: float = Field(
        ge=0, le=100, validation_alias=AliasChoices("percentage_range_min", "percentageRangeMin")
    )
    percentage_range_max: float | None = Field(
        default=None,
        ge=0,
        le=100,
        validation_alias=AliasChoices("percentage_range_max", "percentageRangeMax"),
    )
    color: str = Field(pattern=r"^#[0-9A-Fa-f]{6}$", examples=["#BFDBFE"])
    is_default: bool = Field(default=False, validation_alias=AliasChoices("is_default", "isDefault"))
    enabled: bool = True
    display_order: int = Field(ge=1, le=6, validation_alias=AliasChoices("display_order", "displayOrder"))

    @field_validator("percentage_range_min", "percentage_range_max")
    @classmethod
    def _two_decimals(cls, value: float | None) -> float | None:
        """The columns are NUMERIC(5,2): compare what will be stored."""
        return None if value is None else round(value, 2)

    @model_validator(mode="after")
    def _max_above_min(self) -> IndicatorInput:
        if self.percentage_range_max is not None and self.percentage_range_max <= self.percentage_range_min:
            raise ValueError("percentage_range_max must be greater than percentage_range_min")
        return self


class AlertConfigsInput(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "user_id": "Default User",
                    "indicators": [
                        {
                            "percentage_range_min": 10,
                            "percentage_range_max": 15,
                            "color": "#BFDBFE",
                            "is_default": False,
                            "enabled": False,
                            "display_order": 2,
                        }
                    ],
                    "audible_alerts_enabled": False,
                }
            ]
        },
    )

    user_id: UserId | None = Field(default=None, validation_alias=AliasChoices("user_id", "userId"))
    indicators: list[IndicatorInput] = Field(max_length=6)
    audible_alerts_enabled: bool | None = Field(
        default=None, validation_alias=AliasChoices("audible_alerts_enabled", "audibleAlertsEnabled")
    )

    @model_validator(mode="after")
    def _consistent(self) -> AlertConfigsInput:
        users = {i.user_id for i in self.indicators if i.user_id is not None}
        if self.user_id is not None:
            users.add(self.user_id)
        if len(users) > 1:
            raise ValueError("every indicator must have the same user_id")
        orders = [i.display_order for i in self.indicators]
        if len(set(orders)) != len(orders):
            raise ValueError("display_order values must be distinct")
        ids = [i.indicator_id for i in self.indicators if i.indicator_id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("indicator_id values must be distinct")
        return self

    def resolved_user(self, default: str) -> str:
        """The top-level user_id, else the indicators', else `default`."""
        if self.user_id is not None:
            return self.user_id
        return next((i.user_id for i in self.indicators if i.user_id is not None), default)
