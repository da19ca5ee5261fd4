"""Validation rows are never calibration rows: the samples are split once, deterministically, into rows that
calibrate int8-static (and any search a method runs) and rows the gate judges every candidate on — or the
user's own held-out file (`--validation FILE`) judges them and all samples calibrate. With the verdicts go
95 % intervals: Wilson's for a top-1 agreement (a proportion of rows), a percentile bootstrap for a mean
cosine. Pure functions over arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.samples import Samples, batchable_rows

VALIDATION_FRACTION = 0.3  # the default share of the samples held out for the gate
MIN_SPLIT_ROWS = 10  # each part must have at least this many rows, else both share all rows
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
BOOTSTRAP_RESAMPLES = 1000
SPLIT_SEED = 0


@dataclass(frozen=True)
class SampleSplit:
    calibration: Samples  # what int8-static calibrates on
    validation: Samples  # what the gate measures agreement and latency on
    disjoint: bool  # False: both are all the samples (too few rows, or inputs without a row axis)
    note: str  # how the rows were divided, for the report


def _take(samples: Samples, rows: np.ndarray, source: str) -> Samples:
    return Samples({k: v[rows] for k, v in samples.arrays.items()}, source, len(rows))


def spread_subset(samples: Samples, limit: int) -> Samples:
    """At most `limit` rows, evenly spread over the samples (all of them when fewer, or not batchable)."""
    rows = batchable_rows(samples)
    if rows is None or rows <= limit:
        return samples
    return _take(samples, np.unique(np.linspace(0, rows - 1, limit).astype(np.int64)), samples.source)


def split_samples(
    samples: Samples, fraction: float = VALIDATION_FRACTION, validation: Samples | None = None
) -> SampleSplit:
    """Calibration and validation rows: `validation` when given (all `samples` calibrate), else a seeded
    permutation of the rows cut at `fraction` (each part ≥ MIN_SPLIT_ROWS); otherwise both share all rows
    and the note says why."""
    if validation is not None:
        note = f"calibrated on {samples.rows} rows of {samples.source}, validated on {validation.rows} rows of {validation.source}"
        return SampleSplit(samples, validation, True, note)
    rows = batchable_rows(samples)
    if rows is None:
        note = "the inputs have no common row axis to split: calibration and validation share the samples"
        return SampleSplit(samples, samples, False, note)
    held_out = int(round(rows * fraction))
    if held_out < MIN_SPLIT_ROWS or rows - held_out < MIN_SPLIT_ROWS:
        note = (
            f"only {rows} sample rows: calibration and validation share them (int8-static is then judged on "
            f"the rows it was calibrated on); give ≥ {math.ceil(MIN_SPLIT_ROWS / min(fraction, 1 - fraction))} "
            "rows or --validation FILE"
        )
        return SampleSplit(samples, samples, False, note)
    order = np.random.default_rng(SPLIT_SEED).permutation(rows)
    validation_rows, calibration_rows = np.sort(order[:held_out]), np.sort(order[held_out:])
    note = (
        f"{rows} sample rows split {rows - held_out} calibration / {held_out} validation (seeded, disjoint)"
    )
    return SampleSplit(
        _take(samples, calibration_rows, samples.source),
        _take(samples, validation_rows, samples.source),
        True,
        note,
    )


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a proportion `successes`/`n` (sound at 0 or n successes, unlike ±z·σ)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """Percentile-bootstrap 95 % interval of the mean of `values` (seeded: the same rows give the same
    interval, so the model layer's record is reproducible)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return 0.0, 1.0
    if values.size == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(SPLIT_SEED)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def rows_to_show(threshold: float, z: float = Z95) -> int:
    """Validation rows, all agreeing, whose Wilson lower bound reaches `threshold` (765 for 0.995): fewer
    rows cannot show a top-1 agreement of `threshold` at 95 % confidence however well a candidate does."""
    if not 0 < threshold < 1:
        raise ValueError("threshold must be between 0 and 1")
    return math.ceil(threshold * z * z / (1 - threshold))
