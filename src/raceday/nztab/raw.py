"""NZ TAB responses as raceday keeps them: zlib-compressed bytes, and the snapshot time read off the header.

Recording happens on every poll: level 3 keeps a race event to about a sixth of its size for under a
millisecond, on a thread (zlib releases the GIL) while a worker process transforms the same body.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from raceday.nztab.models import UtcDatetime

LEVEL = 3
# `"generated_time": "..."` sits in the header, at the start of the body: no need to parse the rest.
_GENERATED = re.compile(rb'"generated_time"\s*:\s*"([^"]+)"')
_INSTANT: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)


def pack(body: bytes) -> bytes:
    return zlib.compress(body, LEVEL)


def unpack(packed: bytes) -> bytes:
    """The body as received; zlib.error for a corrupted recording."""
    return zlib.decompress(packed)


def generated_time(body: bytes) -> datetime | None:
    """The response's header.generated_time, if it has a readable one (a malformed body may not)."""
    match = _GENERATED.search(body[:4096])
    if match is None:
        return None
    try:
        return _INSTANT.validate_python(json.loads(b'"' + match.group(1) + b'"'))
    except (ValidationError, ValueError):
        return None
