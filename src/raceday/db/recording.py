"""The raw NZ TAB responses raceday used, kept compressed in `raw_responses`, and a recorded day as one file.

A recorded day is every response of the races that have a snapshot on that NZ day (a race after midnight
was polled the evening before too) and the meetings pages asked for that day. A recording file is gzipped
JSON lines: a header line, then one line per response with its body as base64 of the packed bytes.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from psycopg import AsyncConnection

from raceday.core.nztime import nz_day, nz_midnight
from raceday.nztab.raw import generated_time, pack

FORMAT = "raceday-recording"
VERSION = 1
Outcome = Literal["stored", "invalid"]


@dataclass(frozen=True, slots=True)
class RawResponse:
    """One response as recorded; `body` is compressed (`raceday.nztab.raw.pack`)."""

    endpoint: str
    request_key: str
    race_id: str | None
    generated_time: datetime
    received_at: datetime
    outcome: Outcome
    error: str | None
    raw_bytes: int
    body: bytes

    @property
    def key(self) -> str:
        """How a report names it: endpoint, what was asked, and when NZ TAB generated it."""
        return f"{self.endpoint} {self.request_key} {self.generated_time.isoformat()}"


_COLUMNS = (
    "endpoint", "request_key", "race_id", "generated_time", "received_at", "outcome", "error", "raw_bytes",
    "body",
)  # fmt: skip
RECORD = f"""
INSERT INTO raw_responses ({", ".join(_COLUMNS)})
VALUES ({", ".join(f"%({c})s" for c in _COLUMNS)})
ON CONFLICT (endpoint, request_key, generated_time) DO NOTHING
"""

# The day's races (any snapshot on the NZ day), then all their responses, and the day's meetings pages.
_DAY_RACES = """
SELECT DISTINCT race_id FROM raw_responses
WHERE endpoint = 'events' AND generated_time >= %(lower)s AND generated_time < %(upper)s
"""
_DAY = f"""
SELECT {", ".join(_COLUMNS)} FROM raw_responses
WHERE generated_time >= %(lower)s - interval '1 day' AND generated_time < %(upper)s + interval '1 day'
  AND ((endpoint = 'events' AND race_id IN ({_DAY_RACES}))
       OR (endpoint = 'meetings' AND request_key LIKE %(day)s || '@%%'))
ORDER BY generated_time, endpoint, request_key
"""


def as_params(response: RawResponse) -> dict[str, Any]:
    return {column: getattr(response, column) for column in _COLUMNS}


async def record(conn: AsyncConnection[Any], responses: Sequence[RawResponse]) -> int:
    """Store responses (again is harmless: the same response is kept once)."""
    if not responses:
        return 0
    async with conn.cursor() as cursor:
        await cursor.executemany(RECORD, [as_params(r) for r in responses])
        return cursor.rowcount


async def recorded_day(conn: AsyncConnection[Any], day: date) -> list[RawResponse]:
    lower = nz_midnight(day)
    params = {"lower": lower, "upper": nz_midnight(day + timedelta(days=1)), "day": day.isoformat()}
    cursor = await conn.execute(_DAY, params)
    return [RawResponse(*row) for row in await cursor.fetchall()]


def write_file(path: Path, day: date, responses: Iterable[RawResponse]) -> int:
    """The day as one gzipped file; returns how many responses it holds."""
    count = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps({"format": FORMAT, "version": VERSION, "day": day.isoformat()}) + "\n")
        for response in responses:
            line = as_params(response) | {
                "generated_time": response.generated_time.isoformat(),
                "received_at": response.received_at.isoformat(),
                "body": base64.b64encode(response.body).decode("ascii"),
            }
            out.write(json.dumps(line) + "\n")
            count += 1
    return count


class RecordingFileError(ValueError):
    """Not a raceday recording, or one this version cannot read; the message says which line."""


def read_file(path: Path) -> Iterator[RawResponse]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        try:
            header = json.loads(next(lines))
        except (StopIteration, json.JSONDecodeError, OSError) as error:
            raise RecordingFileError(f"{path}: not a raceday recording ({error})") from None
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise RecordingFileError(f"{path}: not a raceday recording of version {VERSION}")
        for number, line in enumerate(lines, start=2):
            try:
                fields = json.loads(line)
                yield RawResponse(
                    endpoint=fields["endpoint"],
                    request_key=fields["request_key"],
                    race_id=fields["race_id"],
                    generated_time=datetime.fromisoformat(fields["generated_time"]),
                    received_at=datetime.fromisoformat(fields["received_at"]),
                    outcome=fields["outcome"],
                    error=fields["error"],
                    raw_bytes=fields["raw_bytes"],
                    body=base64.b64decode(fields["body"]),
                )
            except (KeyError, ValueError, TypeError) as error:
                raise RecordingFileError(f"{path}, line {number}: {error!r}") from None


def responses_from_folder(folder: Path) -> tuple[list[RawResponse], list[str]]:
    """NZ TAB responses saved as JSON files (e.g. tests/fixtures/nztab) as recordings; files of endpoints
    the pipeline does not use, or that are not NZ TAB responses, are named in the second list."""
    found: list[RawResponse] = []
    skipped: list[str] = []
    for path in sorted(folder.glob("*.json")):
        body = path.read_bytes()
        try:
            document = json.loads(body)
            url = str(document["header"]["url"])
        except (ValueError, KeyError, TypeError):
            skipped.append(f"{path.name}: not an NZ TAB response")
            continue
        at = generated_time(body)
        if at is None:
            skipped.append(f"{path.name}: no header.generated_time")
            continue
        route = url.split("?", 1)[0].removeprefix("/affiliates/v1/racing/")
        if route.startswith("events/"):
            race_id = str(document["data"]["race"]["event_id"])
            key, endpoint = race_id, "events"
        elif route == "meetings":
            params = document.get("params") or {}
            asked = _as_day(str(params.get("date_from") or "")) or nz_day(at)
            key, endpoint, race_id = f"{asked.isoformat()}@{params.get('offset') or 0}", "meetings", None
        else:
            skipped.append(f"{path.name}: /racing/{route} is not an endpoint the pipeline uses")
            continue
        found.append(RawResponse(endpoint, key, race_id, at, at, "stored", None, len(body), pack(body)))
    return found, skipped


def _as_day(value: str) -> date | None:
    """The NZ racing day a `date_from` names: NZ TAB echoes it as a date or as an instant."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return nz_day(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None
