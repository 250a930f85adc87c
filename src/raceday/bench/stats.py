"""Summary statistics the benchmarks report: nearest-rank percentiles, as the spec's benchmark has them."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile, as the spec's benchmark computes it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "p95": round(percentile(values, 95), 2),
        "p99": round(percentile(values, 99), 2),
    }


def median_ci(values: list[float], z: float = 1.96) -> tuple[float, float]:
    """A distribution-free ~95 % confidence interval of the median: the order statistics n/2 ± z·√n/2
    (the binomial's normal approximation), so a reader sees whether a median difference is resolved."""
    ordered = sorted(values)
    lower = max(0, math.floor((len(ordered) - z * math.sqrt(len(ordered))) / 2))
    return ordered[lower], ordered[len(ordered) - 1 - lower]
