"""Deterministic randomness: every id and draw is a function of the seed and a name, never of order.

Keying each draw by what it is for (`"race", meeting_id, 3`) keeps the day stable when the
generator changes elsewhere, and lets any race be rebuilt without generating the ones before it.
"""

from __future__ import annotations

import hashlib
import random
import uuid


def _digest(parts: tuple[object, ...]) -> bytes:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()


def stable_uuid(*parts: object) -> str:
    """A version-4-shaped UUID string derived from `parts`."""
    return str(uuid.UUID(bytes=_digest(parts)[:16], version=4))


def stable_random(*parts: object) -> random.Random:
    """A private `random.Random` seeded from `parts`."""
    return random.Random(int.from_bytes(_digest(parts)[:8], "big"))  # noqa: S311 - simulation, not crypto


def stable_unit(*parts: object) -> float:
    """One uniform draw in [0, 1) derived from `parts` (cheaper than building a Random)."""
    return int.from_bytes(_digest(parts)[:7], "big") / float(1 << 56)
