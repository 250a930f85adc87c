"""Fault injection and the request log: how tests make the simulator misbehave, and see what it got.

A rule matches an endpoint (and optionally one race); the first matching rule that is not spent is
applied to a request. `times` limits a rule to the next N matching requests.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Endpoint = Literal["events", "meetings", "meeting", "list", "any"]
FaultKind = Literal["latency", "timeout", "error", "rate_limit", "malformed", "missing_field", "stale"]
"""`stale` serves the snapshot as it was `delay_s` ago (default 60 s): a late, out-of-order delivery."""

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_LATENCY_S = 1.0
DEFAULT_STALE_S = 60.0


class FaultRule(BaseModel):
    """One way to misbehave. `id` is assigned when the rule is added."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: Endpoint = "any"
    race_id: str | None = None
    kind: FaultKind
    status: int = Field(default=503, ge=400, le=599)
    delay_s: float | None = Field(default=None, ge=0)
    retry_after_s: float = Field(default=1.0, ge=0)
    field: str | None = None
    times: int | None = Field(default=None, ge=1)
    ratio: float | None = Field(default=None, gt=0, le=1)
    """Apply to this fraction of the matching requests, evenly spread (deterministic); None: all."""
    id: str | None = None

    @model_validator(mode="after")
    def _field_needed(self) -> Self:
        if self.kind == "missing_field" and not self.field:
            raise ValueError("kind missing_field needs a dotted 'field', e.g. data.race.status")
        return self

    @property
    def delay(self) -> float:
        """Seconds to wait (or, for `stale`, how old the snapshot is): the given delay, else the kind's
        default (timeouts hang 30 s, stale snapshots are a minute old)."""
        if self.delay_s is not None:
            return self.delay_s
        return {"timeout": DEFAULT_TIMEOUT_S, "stale": DEFAULT_STALE_S}.get(self.kind, DEFAULT_LATENCY_S)

    def matches(self, endpoint: str, race_id: str | None) -> bool:
        if self.endpoint not in ("any", endpoint):
            return False
        return self.race_id is None or self.race_id == race_id


class FaultRegistry:
    """The active rules, in the order they were added, with what is left of each `times`."""

    def __init__(self) -> None:
        self._rules: dict[str, FaultRule] = {}
        self._remaining: dict[str, int | None] = {}
        self._matched: dict[str, int] = {}
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> FaultRule:
        """Activate `rule`; returns it with its new id."""
        rule_id = f"fault-{next(self._ids)}"
        added = rule.model_copy(update={"id": rule_id})
        self._rules[rule_id] = added
        self._remaining[rule_id] = added.times
        return added

    def remove(self, rule_id: str) -> bool:
        self._remaining.pop(rule_id, None)
        self._matched.pop(rule_id, None)
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        self._rules.clear()
        self._remaining.clear()
        self._matched.clear()

    def __iter__(self) -> Iterator[FaultRule]:
        return iter(list(self._rules.values()))

    def __len__(self) -> int:
        return len(self._rules)

    def describe(self) -> list[dict[str, Any]]:
        """The rules as JSON objects, each with `remaining` (null = unlimited)."""
        return [
            rule.model_dump() | {"remaining": self._remaining[rule_id]}
            for rule_id, rule in self._rules.items()
        ]

    def take(self, endpoint: str, race_id: str | None) -> FaultRule | None:
        """The first rule matching this request, counting one use of it (spent rules go away)."""
        for rule_id, rule in self._rules.items():
            if not rule.matches(endpoint, race_id):
                continue
            if rule.ratio is not None:
                seen = self._matched[rule_id] = self._matched.get(rule_id, 0) + 1
                if int(seen * rule.ratio) == int((seen - 1) * rule.ratio):
                    continue
            remaining = self._remaining[rule_id]
            if remaining is not None:
                if remaining <= 1:
                    self.remove(rule_id)
                else:
                    self._remaining[rule_id] = remaining - 1
            return rule
        return None


class RequestRecord(BaseModel):
    """One request as the simulator saw it."""

    model_config = ConfigDict(frozen=True)

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    sim_time: datetime
    endpoint: str | None
    status: int
    fault: FaultRule | None = None


class RequestLog:
    """The most recent requests (bounded, so a long demo run does not grow without limit)."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)

    def append(self, record: RequestRecord) -> None:
        self._records.append(record)

    def clear(self) -> None:
        self._records.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def for_endpoint(self, endpoint: str) -> list[RequestRecord]:
        return [record for record in self._records if record.endpoint == endpoint]
