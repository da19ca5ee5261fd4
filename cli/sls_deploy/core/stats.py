"""Summary statistics for metric values, as CloudWatch reports them: count, percentiles, average, maximum.

Percentiles use the nearest-rank method — pNN is the smallest value with at least NN % of the values at or
below it — so every percentile is a value that was actually observed. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from .records import Stats


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of values sorted ascending (at least one)."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0.0 < q <= 100.0:
        raise ValueError(f"percentile {q} is not in (0, 100]")
    rank = math.ceil(q / 100.0 * len(ordered))
    return ordered[max(rank, 1) - 1]


def summarize(values: Iterable[float]) -> Stats:
    ordered = sorted(values)
    if not ordered:
        return Stats()
    return Stats(
        count=len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
        average=math.fsum(ordered) / len(ordered),
        maximum=ordered[-1],
    )


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals (start, end) open at one instant: concurrent executions. An interval ending
    exactly when another starts does not overlap it."""
    spans = list(intervals)
    edges = sorted(
        [(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans],
        key=lambda edge: (edge[0], edge[1]),
    )
    running = best = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best
