"""Summary statistics of repeated samples: nearest-rank percentiles and latency distributions."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def percentile(samples, q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Distribution:
    """A sample summarised as count, p50/p95/p99, max and mean (the figures evidence reports)."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, samples) -> Distribution:
        samples = list(samples)
        return cls(len(samples), percentile(samples, 50), percentile(samples, 95),
                   percentile(samples, 99), max(samples), sum(samples) / len(samples))

    def to_dict(self) -> dict:
        return asdict(self)
