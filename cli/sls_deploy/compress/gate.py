"""The gate: a candidate against the original, on the same sample inputs, loaded by the same loader.

Agreement: top-1 agreement for classifiers (integer label outputs, or probability rows that sum to 1),
cosine similarity for other float outputs (regressors, embeddings), with max absolute and relative errors
for every float output. Latency: p50 of batch-1 and batch runs, candidate and baseline interleaved (ABBA)
so that machine noise hits both, reported as ratios. Runs sessions; no file I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sls_inference.signature import TensorSpec

from ..model.samples import Samples, sample_rows
from . import validation

METRICS = ("top1", "cosine")
DEFAULT_MIN_AGREEMENT = {"top1": 0.995, "cosine": 0.995}
BATCH_ROWS = 8  # about an SQS batch (up to 10 records)
TIME_BUDGET_S = 1.5  # per candidate and batch size, after the minimum number of pairs
MIN_PAIRS = 15
MAX_PAIRS = 300
WARMUP = 3

Feeds = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Agreement:
    metric: str
    value: float | None  # None: nothing comparable
    max_abs_error: float | None
    max_rel_error: float | None
    outputs: tuple[str, ...]  # the outputs `value` was computed on
    rows: int | None = None  # how many rows (values, for label outputs) `value` is the mean of
    low: float | None = None  # its 95 % interval: Wilson's (top1) or a bootstrap of the mean (cosine)
    high: float | None = None

    def shows(self, threshold: float) -> bool:
        """Whether the interval's lower end clears `threshold` (so few rows may pass without showing it)."""
        return self.low is not None and self.low >= threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": _round(self.value, 6),
            "rows": self.rows,
            "interval95": None if self.low is None else [_round(self.low, 6), _round(self.high, 6)],
            "max_abs_error": _round(self.max_abs_error, 8),
            "max_rel_error": _round(self.max_rel_error, 8),
            "outputs": list(self.outputs),
        }


@dataclass(frozen=True)
class Latency:
    """p50s of one interleaved measurement; the ratios are medians of the per-pair ratios (each candidate
    run against the baseline run next to it), which cancels slow drifts in machine load."""

    b1_ms: float
    base_b1_ms: float
    ratio_b1: float
    batch_ms: float | None = None
    base_batch_ms: float | None = None
    ratio_batch: float | None = None
    batch_rows: int | None = None

    @property
    def worst_ratio(self) -> float:
        return max(self.ratio_b1, self.ratio_batch or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "p50_b1_ms": _round(self.b1_ms, 4),
            "baseline_p50_b1_ms": _round(self.base_b1_ms, 4),
            "ratio_b1": _round(self.ratio_b1, 4),
            "p50_batch_ms": _round(self.batch_ms, 4),
            "baseline_p50_batch_ms": _round(self.base_batch_ms, 4),
            "ratio_batch": _round(self.ratio_batch, 4),
            "batch_rows": self.batch_rows,
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _is_label(spec: TensorSpec, array: np.ndarray) -> bool:
    return array.dtype.kind in "iub" and array.ndim <= 2 and (array.ndim < 2 or array.shape[-1] == 1)


def _is_probabilities(array: np.ndarray) -> bool:
    if array.dtype.kind != "f" or array.ndim < 2 or array.shape[-1] < 2 or array.size == 0:
        return False
    values = array.astype(np.float64)
    if values.min() < -1e-6 or values.max() > 1 + 1e-6:
        return False
    return bool(np.allclose(values.sum(axis=-1), 1.0, atol=1e-3))


def choose_metric(specs: Sequence[TensorSpec], reference: Sequence[Any]) -> str:
    """top1 when an output is a label or a probability row per sample, else cosine."""
    for spec, array in zip(specs, reference, strict=True):
        if isinstance(array, np.ndarray) and (_is_label(spec, array) or _is_probabilities(array)):
            return "top1"
    return "cosine"


def _rows(array: np.ndarray, rows: int) -> np.ndarray:
    """One row per sample when the output has the batch axis first (and more than one value per sample),
    else the whole output as one row (a cosine of single values would only compare their signs)."""
    if array.ndim >= 1 and array.shape[0] == rows and rows > 1 and array.size > rows:
        return array.reshape(rows, -1)
    return array.reshape(1, -1)


def _cosines(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """The cosine similarity of each row (1 for two zero rows, 0 where undefined)."""
    a, b = ref.astype(np.float64), cand.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = (a * b).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where((na == 0) & (nb == 0), 1.0, dot / (na * nb))
    return np.nan_to_num(cos, nan=0.0)


def measure_agreement(
    metric: str, specs: Sequence[TensorSpec], reference: Sequence[Any], candidate: Sequence[Any], rows: int
) -> Agreement:
    """Agreement of `candidate` with `reference` (the outputs of one run on the samples) by `metric`: the
    lowest over the compared outputs, with its row count and 95 % interval."""
    top1: list[tuple[str, np.ndarray]] = []  # per-row agreement (True/False) of each label-like output
    cosine: list[tuple[str, np.ndarray]] = []  # per-row cosine of each float output
    scores: list[tuple[str, np.ndarray, np.ndarray]] = []  # float outputs with a score per class
    abs_errors: list[float] = []
    rel_errors: list[float] = []
    for spec, ref, cand in zip(specs, reference, candidate, strict=True):
        if not isinstance(ref, np.ndarray) or not isinstance(cand, np.ndarray) or ref.shape != cand.shape:
            continue  # sequences/maps (scikit-learn's ZipMap) are not compared
        if _is_label(spec, ref):
            top1.append((spec.name, ref.reshape(-1) == cand.reshape(-1)))
        elif ref.dtype.kind == "f" and ref.size:
            r, c = _rows(ref, rows).astype(np.float64), _rows(cand, rows).astype(np.float64)
            broken = not np.isfinite(c).all() and np.isfinite(r).all()
            err = float("inf") if broken else float(np.nanmax(np.abs(r - c)))
            scale = float(np.nanmax(np.abs(r)))
            abs_errors.append(err)
            rel_errors.append(err / scale if scale > 0 else (0.0 if err == 0 else float("inf")))
            cosine.append((spec.name, np.zeros(len(r)) if broken else _cosines(r, c)))
            if ref.ndim >= 2 and ref.shape[-1] > 1:
                scores.append((spec.name, ref, cand))
                if _is_probabilities(ref):
                    top1.append((spec.name, _argmax_matches(ref, cand)))
    if metric == "top1" and not top1:  # forced on a model without labels or probabilities: argmax of scores
        top1 = [(name, _argmax_matches(ref, cand)) for name, ref, cand in scores]
    chosen = top1 if metric == "top1" else cosine
    worst = min(chosen, key=lambda item: float(np.mean(item[1])) if item[1].size else 1.0, default=None)
    value = low = high = None
    count = None
    if worst is not None:
        values = worst[1]
        count = int(values.size)
        value = float(np.mean(values)) if values.size else 1.0
        if metric == "top1":
            low, high = validation.wilson_interval(float(np.sum(values)), count)
        else:
            low, high = validation.bootstrap_interval(values)
    return Agreement(
        metric,
        value,
        max(abs_errors, default=None),
        max(rel_errors, default=None),
        tuple(n for n, _ in chosen),
        count,
        low,
        high,
    )


def _argmax_matches(ref: np.ndarray, cand: np.ndarray) -> np.ndarray:
    return (np.argmax(ref, axis=-1) == np.argmax(cand, axis=-1)).reshape(-1)


def batchable(samples: Samples, specs: Sequence[TensorSpec]) -> bool:
    """Whether the samples can be cut into row batches: every input has a free first axis of `rows`."""
    for spec in specs:
        array = samples.arrays.get(spec.name)
        if array is None or array.ndim == 0 or array.shape[0] != sample_rows(samples):
            return False
        if spec.shape is not None and (not spec.shape or isinstance(spec.shape[0], int)):
            return False
    return True


def latency_feeds(samples: Samples, specs: Sequence[TensorSpec]) -> tuple[Feeds, Feeds | None, int | None]:
    """(batch-1 feeds, batch feeds or None, batch rows). Models without a free batch axis: the samples as
    given, timed once (no separate batch run)."""
    if not batchable(samples, specs) or sample_rows(samples) < 2:
        return dict(samples.arrays), None, None
    rows = min(sample_rows(samples), BATCH_ROWS)
    one = {k: v[:1] for k, v in samples.arrays.items()}
    many = {k: v[:rows] for k, v in samples.arrays.items()}
    return one, many, rows


@dataclass(frozen=True)
class _Pairs:
    base_ms: float
    cand_ms: float
    ratio: float  # median of cand/base over the pairs


def _pairs(base: Any, cand: Any, feeds: Feeds) -> _Pairs:
    """Baseline and candidate runs interleaved ABBA: their p50s and the median per-pair ratio."""
    for _ in range(WARMUP):
        base.run(None, feeds)
        cand.run(None, feeds)
    base_times: list[float] = []
    cand_times: list[float] = []
    started = time.perf_counter()
    i = 0
    while i < MAX_PAIRS and (i < MIN_PAIRS or time.perf_counter() - started < TIME_BUDGET_S):
        order = (
            ((base, base_times), (cand, cand_times))
            if i % 2 == 0
            else ((cand, cand_times), (base, base_times))
        )
        for session, times in order:
            t0 = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - t0)
        i += 1
    b, c = np.array(base_times), np.array(cand_times)
    return _Pairs(float(np.median(b) * 1000.0), float(np.median(c) * 1000.0), float(np.median(c / b)))


def measure_latency(base: Any, cand: Any, one: Feeds, many: Feeds | None, rows: int | None) -> Latency:
    single = _pairs(base, cand, one)
    if many is None:
        return Latency(single.cand_ms, single.base_ms, single.ratio)
    batch = _pairs(base, cand, many)
    return Latency(
        single.cand_ms, single.base_ms, single.ratio, batch.cand_ms, batch.base_ms, batch.ratio, rows
    )


def faster_of(first: Latency, second: Latency) -> Latency:
    """The measurement with the lower worst ratio (a re-measurement confirms or clears a slowdown)."""
    return first if first.worst_ratio <= second.worst_ratio else second


def judge(
    agreement: Agreement, latency: Latency, min_agreement: float, max_slowdown: float
) -> tuple[bool, str]:
    """(passes, reason) for a measured candidate."""
    if agreement.value is None:
        return False, "no output to compare with the original"
    name = "top-1 agreement" if agreement.metric == "top1" else "cosine similarity"
    measured = f"{name} {agreement.value:.4f}{_interval_text(agreement)}"
    if agreement.value < min_agreement:
        return False, f"{measured} < {min_agreement:.4f}"
    worst = latency.worst_ratio
    if worst > max_slowdown:
        return False, f"{worst:.3f}× the fp32 p50 latency > {max_slowdown:.3f}×"
    shown = "" if agreement.shows(min_agreement) else f" (too few rows to show {min_agreement:.4f})"
    return True, f"{measured} ≥ {min_agreement:.4f}{shown}, {worst:.3f}× fp32 latency"


def _interval_text(agreement: Agreement) -> str:
    if agreement.low is None or agreement.high is None:
        return ""
    return f" [95 % {agreement.low:.4f}–{agreement.high:.4f}, n={agreement.rows}]"
