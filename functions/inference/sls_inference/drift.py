"""Drift accounting inside the function: live inputs and predictions binned against the push-time baseline.

The model layer may hold ``baseline.json`` next to model.json (model.json's ``"drift"`` entry names it and
sets the reporting cadence). ``DriftMonitor`` reads it at init and, per request, adds the request's rows to
per-feature counts with three whole-batch numpy operations (no Python loop per row or feature; see Bins).
Every ``every`` rows, or on the first request at least ``seconds`` after the last report (no threads:
checked when a request comes), it closes a ``DriftWindow``: the window's own counts (the handler logs them
as one "drift window" line; ``sls-deploy drift`` sums those lines over a period with the same ``psi``
function) and the PSI against the baseline of the rows not yet reported as a metric. That PSI becomes the
EMF metrics only once it covers at least ``every`` rows: a window closed by time with fewer rows is logged,
and its rows count toward the next metric (due as soon as the rows not yet in a metric reach ``every``).
PSI of few rows is mostly sampling noise (a 10-bin feature of m rows drawn from the baseline's own
distribution scores about 9/m), and a quiet function would otherwise alarm on it.

Baseline document (format 1), written by sls_deploy.model.baseline:
- ``inputs``: how each monitored input becomes features: ``{"name", "kind": "values"}`` (each element of a
  row is one feature, ``"width"`` of them) or ``{"name", "kind": "summary", "stats": [...]}`` (per-row
  statistics of the whole row: mean, std, min, max, zeros = fraction of zero elements, length = count of
  non-zero elements, for integer id inputs).
- ``features``: one ``{"name", "edges", "counts"}`` per feature, in the order the inputs produce them.
  ``edges`` are the interior cut points e1 < e2 < …; bin 0 holds values below e1, bin i values in
  [e_i, e_i+1), the last bin values ≥ the last edge (NaN counts in bin 0). ``counts`` are the baseline's
  rows per bin.
- ``prediction`` (or null): ``{"output", "kind", "edges", "counts"}`` with kind ``classes`` (argmax of a
  probability/score output; value = class index), ``labels`` (an integer label output; value = index in
  ``"labels"``, len(labels) for a label the baseline did not have) or ``mean`` (mean of each output row).
- ``rows``, ``generated`` (the samples were random: the baseline says little), ``skipped``, ``notes``.

PSI (population stability index) of one feature: Σ_bins (q − p)·ln(q/p) with p the baseline's and q the
live proportions, each taken after adding SMOOTHING = 0.5 to every bin's count (Jeffreys' prior; bins empty
on both sides are left out), so an empty bin on either side stays finite and a few rows do not blow up:
baseline [10, 0] against live [0, 10] scores 2·(10/11)·ln 21 ≈ 5.5. A floor of 1e-4 on proportions instead
would score 18 there, and put 20 rows of unchanged traffic at ≈ 2.1 (the highest of 64 features; 0.6 here).
Bands: < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant.

numpy only: this module is imported by the handler and by the CLI. Side effects: reads baseline.json.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BASELINE_NAME = "baseline.json"
BASELINE_FORMAT = 1
SMOOTHING = 0.5  # added to every bin's count on both sides before PSI
STABLE_BELOW = 0.1
SIGNIFICANT_ABOVE = 0.25
TOP_FEATURES = 5
SUMMARY_STATS = ("mean", "std", "min", "max", "zeros")
LENGTH_STAT = "length"  # integer (id) inputs: count of non-zero (non-pad) elements per row
DEFAULT_EVERY = 100
DEFAULT_SECONDS = 60.0
NO_DATA = "no data"


def psi(reference: Any, live: Any, sizes: Sequence[int] | None = None) -> np.ndarray:
    """PSI of bin counts along the last axis: (B,) → a 0-d array, (F, B) → (F,), smoothed (SMOOTHING).
    Bins empty on both sides are left out (else a constant feature's empty side bins, smoothed with
    different totals, would score a little on unchanged traffic). `sizes`: each feature's number of bins
    when the matrices are padded (see pad_counts); bins past it are ignored. NaN where either side has no
    rows."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(live, dtype=np.float64)
    real = (ref > 0) | (cur > 0)  # a bin empty on both sides carries no evidence: left out
    if sizes is not None:
        real &= np.arange(ref.shape[-1]) < np.asarray(sizes)[:, None]
    smoothed_ref = np.where(real, ref + SMOOTHING, 0.0)
    smoothed_cur = np.where(real, cur + SMOOTHING, 0.0)
    p = smoothed_ref / smoothed_ref.sum(axis=-1, keepdims=True)
    q = smoothed_cur / smoothed_cur.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(real, (q - p) * np.log(q / p), 0.0)
    result: np.ndarray = terms.sum(axis=-1)
    empty = (ref.sum(axis=-1) == 0) | (cur.sum(axis=-1) == 0)
    return np.where(empty, np.nan, result)


def psi_verdict(value: float | None) -> str:
    """The PSI band: stable (< 0.1), moderate (0.1–0.25), significant (> 0.25); "no data" for None/NaN."""
    if value is None or math.isnan(value):
        return NO_DATA
    if value < STABLE_BELOW:
        return "stable"
    return "moderate" if value <= SIGNIFICANT_ABOVE else "significant"


def encode_baseline(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a baseline document (sorted keys, compact): same document, same bytes."""
    return (json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()


def baseline_id(data: bytes) -> str:
    """A baseline's identity in window log lines: the first 12 hex digits of its sha256."""
    return hashlib.sha256(data).hexdigest()[:12]


def reference(baseline: Mapping[str, Any]) -> dict[str, Any]:
    """What PSI needs of a baseline document — rows, feature names, counts, the prediction's counts — as the
    first window of each environment carries it (so a period's windows can be compared without the file)."""
    features = list(baseline.get("features") or [])
    prediction = baseline.get("prediction")
    return {
        "rows": int(baseline.get("rows", 0)),
        "features": [str(f["name"]) for f in features],
        "counts": [[int(c) for c in f["counts"]] for f in features],
        "prediction": None
        if not prediction
        else {"output": str(prediction["output"]), "counts": [int(c) for c in prediction["counts"]]},
    }


def pad_counts(counts: Sequence[Sequence[int]], bins: int | None = None) -> np.ndarray:
    """Per-feature count lists of different lengths → an (F, bins) int64 matrix, zero-padded."""
    width = bins if bins is not None else max((len(c) for c in counts), default=1)
    matrix = np.zeros((len(counts), width), dtype=np.int64)
    for row, values in enumerate(counts):
        matrix[row, : len(values)] = values
    return matrix


class Bins:
    """Interior edges of several features, padded into one (E, F) matrix with NaN (x ≥ NaN is never true,
    so padded bins stay empty).

    A batch is counted as "rows at or above each edge" (E, F): one broadcast comparison and one sum over the
    rows, additive across batches, so a request costs three numpy calls whatever its size; bin counts follow
    from differences when a window closes (bin j = at_least[j−1] − at_least[j], bin 0 = rows − at_least[0]).
    """

    def __init__(self, edges: Sequence[Sequence[float]]) -> None:
        self.features = len(edges)
        width = max((len(e) for e in edges), default=0)
        self.edges = np.full((self.features, width), np.nan, dtype=np.float64)
        for row, values in enumerate(edges):
            self.edges[row, : len(values)] = values
        self._edges_by_rank = np.ascontiguousarray(self.edges.T)[None, :, :]  # (1, E, F)
        self.bins = width + 1
        self.sizes = tuple(len(e) + 1 for e in edges)

    def at_least(self, values: np.ndarray) -> np.ndarray:
        """(rows, F) values → (E, F) int64: how many rows are ≥ each edge."""
        return (values[:, None, :] >= self._edges_by_rank).sum(axis=0, dtype=np.int64)

    def counts_of(self, at_least: np.ndarray, rows: int) -> np.ndarray:
        """(F, bins) int64 bin counts of `rows` rows from their at_least matrix."""
        bounds = np.empty((self.bins + 1, self.features), dtype=np.int64)
        bounds[0], bounds[1:-1], bounds[-1] = rows, at_least, 0
        return (bounds[:-1] - bounds[1:]).T

    def index(self, values: np.ndarray) -> np.ndarray:
        """(rows, F) values → (rows, F) bin numbers."""
        return (values[:, None, :] >= self._edges_by_rank).sum(axis=1)

    def counts(self, values: np.ndarray) -> np.ndarray:
        """(rows, F) values → (F, bins) int64 counts."""
        return self.counts_of(self.at_least(values), len(values))

    def trim(self, matrix: np.ndarray) -> list[list[int]]:
        """An (F, bins) count matrix as per-feature lists of each feature's own number of bins."""
        return [row[:size] for row, size in zip(matrix.tolist(), self.sizes, strict=True)]


def _rows(array: np.ndarray) -> np.ndarray:
    """`array` as (rows, elements): the first axis is the batch; a scalar is one row."""
    return array.reshape(array.shape[0] if array.ndim else 1, -1)


def _summaries(array: np.ndarray, stats: Sequence[str]) -> np.ndarray:
    x = _rows(array)
    # Floats are reduced in their own precision (numpy's pairwise sums: half the time of float64 here, and
    # ample for binning); integers in float64.
    precision = None if x.dtype.kind == "f" else np.float64
    columns: list[np.ndarray] = []
    for stat in stats:  # a handful of statistics, each over the whole batch
        if stat == "mean":
            columns.append(x.mean(axis=1, dtype=precision))
        elif stat == "std":
            columns.append(x.std(axis=1, dtype=precision))
        elif stat == "min":
            columns.append(x.min(axis=1).astype(np.float64))
        elif stat == "max":
            columns.append(x.max(axis=1).astype(np.float64))
        elif stat == "zeros":
            columns.append(np.count_nonzero(x == 0, axis=1) / max(1, x.shape[1]))
        elif stat == LENGTH_STAT:
            columns.append(np.count_nonzero(x, axis=1).astype(np.float64))
        else:
            raise ValueError(f"unknown summary statistic {stat!r}")
    return np.stack(columns, axis=1).astype(np.float64, copy=False)


@dataclass(frozen=True)
class InputFeatures:
    """How the monitored inputs of a request become a (rows, F) float64 feature matrix."""

    inputs: tuple[Mapping[str, Any], ...]

    @property
    def width(self) -> int:
        """F, the number of feature columns."""
        return sum(
            len(entry["stats"]) if entry["kind"] == "summary" else int(entry["width"])
            for entry in self.inputs
        )

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = [
            _summaries(feeds[entry["name"]], entry["stats"])
            if entry["kind"] == "summary"
            else _rows(feeds[entry["name"]]).astype(np.float64, copy=False)  # same-type compares are faster
            for entry in self.inputs
        ]
        if not parts:
            first = next(iter(feeds.values()), np.zeros(0))
            return np.zeros((first.shape[0] if first.ndim else 1, 0))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class PredictionValues:
    """How the monitored output becomes one value per row (see the module docstring's kinds)."""

    output: str
    kind: str  # classes | labels | mean
    labels: tuple[int, ...] = ()

    def _codes(self, rows: np.ndarray) -> np.ndarray:
        """classes/labels: each row's bin (class index; label index, len(labels) for an unknown label)."""
        if self.kind == "classes":
            return np.argmax(rows, axis=1)
        known = np.asarray(self.labels, dtype=np.int64)
        flat = rows[:, 0].astype(np.int64)
        if not len(known):
            return np.zeros(len(flat), dtype=np.intp)
        found = np.searchsorted(known, flat).clip(0, len(known) - 1)
        return np.where(known[found] == flat, found, len(known))

    def __call__(self, array: np.ndarray) -> np.ndarray:
        """(rows, 1) float64 values of an output array: its bin code, or (mean) its row mean."""
        rows = _rows(np.asarray(array))
        if self.kind == "mean":
            return rows.mean(axis=1, dtype=np.float64)[:, None]
        if self.kind not in ("classes", "labels"):
            raise ValueError(f"unknown prediction kind {self.kind!r}")
        return self._codes(rows).astype(np.float64)[:, None]

    def counts(self, array: np.ndarray, bins: Bins) -> np.ndarray:
        """(bins.bins,) int64 counts of an output array's rows (codes count directly, means through `bins`)."""
        if self.kind == "mean":
            return bins.counts(self(array))[0]
        return np.bincount(self._codes(_rows(np.asarray(array))), minlength=bins.bins)[: bins.bins]


@dataclass(frozen=True)
class DriftWindow:
    """One closed window: its own counts, and the PSI against the baseline of the rows not yet reported as a
    metric (`psi_rows` ≥ `rows`; `metric`: they are at least `every`, so the PSIs go out as EMF metrics)."""

    baseline: str  # baseline_id of baseline.json
    generated: bool  # the baseline came from generated samples
    rows: int
    counts: list[list[int]]  # this window's, per input feature, per bin
    prediction_rows: int
    prediction_counts: list[int]
    psi_rows: int
    psi: list[float]  # per input feature, over psi_rows
    input_psi: float | None  # the highest per-feature PSI; None without monitored input features
    prediction_psi: float | None
    top: list[tuple[str, float]]  # the TOP_FEATURES highest, by name
    metric: bool
    reference: Mapping[str, Any] | None = None  # the baseline's names and counts (first window only)

    def log_fields(self) -> dict[str, Any]:
        """The "drift window" log line's fields (compact: ints and 4-decimal floats)."""
        fields: dict[str, Any] = {
            "baseline": self.baseline,
            "generated": self.generated,
            "rows": self.rows,
            "counts": self.counts,
            "prediction_rows": self.prediction_rows,
            "prediction_counts": self.prediction_counts,
            "psi_rows": self.psi_rows,
            "input_psi": None if self.input_psi is None else round(self.input_psi, 4),
            "prediction_psi": None if self.prediction_psi is None else round(self.prediction_psi, 4),
            "top": [[name, round(value, 4)] for name, value in self.top],
            "psi": [round(value, 4) for value in self.psi],
            "metric": self.metric,
        }
        if self.reference is not None:
            fields["reference"] = self.reference
        return fields


class _Counts:
    """What some rows added up to: the inputs as Bins.at_least (E, F), the predictions as bin counts."""

    def __init__(self, bins: Bins, prediction_bins: int) -> None:
        self.inputs = np.zeros((bins.bins - 1, bins.features), dtype=np.int64)
        self.prediction = np.zeros(prediction_bins, dtype=np.int64)
        self.rows = 0
        self.prediction_rows = 0

    def add(self, other: _Counts) -> None:
        self.inputs += other.inputs
        self.prediction += other.prediction
        self.rows += other.rows
        self.prediction_rows += other.prediction_rows

    def clear(self) -> None:
        self.inputs.fill(0)
        self.prediction.fill(0)
        self.rows = self.prediction_rows = 0


class DriftMonitor:
    """Bin counts of the current window against a baseline document. One request at a time (not thread-safe,
    as the handler is)."""

    def __init__(
        self,
        baseline: Mapping[str, Any],
        *,
        every: int = DEFAULT_EVERY,
        seconds: float = DEFAULT_SECONDS,
        identity: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if int(baseline.get("format", 0)) != BASELINE_FORMAT:
            raise ValueError(f"baseline format {baseline.get('format')!r} is not {BASELINE_FORMAT}")
        features = list(baseline.get("features") or [])
        self.identity = identity
        self.generated = bool(baseline.get("generated", False))
        self.every = max(1, int(every))
        self.seconds = float(seconds)
        self.features = InputFeatures(tuple(baseline.get("inputs") or ()))
        self.names = [str(f["name"]) for f in features]
        if len(self.names) != self.features.width:
            raise ValueError(
                f"the baseline has {len(self.names)} features, its inputs make {self.features.width}"
            )
        self.bins = Bins([f["edges"] for f in features])
        self.reference = pad_counts([f["counts"] for f in features], self.bins.bins)
        prediction = baseline.get("prediction")
        self.prediction: PredictionValues | None = None
        self.prediction_bins = Bins([[]])
        self.prediction_reference = np.zeros(1, dtype=np.int64)
        if prediction:
            self.prediction = PredictionValues(
                str(prediction["output"]),
                str(prediction["kind"]),
                tuple(int(v) for v in prediction.get("labels", ())),
            )
            self.prediction_bins = Bins([prediction["edges"]])
            self.prediction_reference = pad_counts([prediction["counts"]], self.prediction_bins.bins)[0]
        if not self.names and self.prediction is None:
            raise ValueError("the baseline monitors no input and no output")
        self._reference_fields = reference(baseline)
        self._clock = clock
        self._window = _Counts(self.bins, self.prediction_bins.bins)
        self._pending = _Counts(self.bins, self.prediction_bins.bins)  # not yet in a metric
        self._last_report = clock()
        self._reported = False

    @classmethod
    def from_model_dir(cls, model_dir: str | Path, manifest: Mapping[str, Any]) -> DriftMonitor | None:
        """The monitor model.json's "drift" entry asks for, or None (no entry, or no baseline file): then
        drift accounting costs nothing. Raises ValueError/OSError for a baseline that cannot be used."""
        entry = manifest.get("drift")
        if not isinstance(entry, Mapping):
            return None
        path = Path(model_dir) / str(entry.get("baseline", BASELINE_NAME))
        if not path.is_file():
            return None
        data = path.read_bytes()
        return cls(
            json.loads(data),
            every=int(entry.get("every", DEFAULT_EVERY)),
            seconds=float(entry.get("seconds", DEFAULT_SECONDS)),
            identity=baseline_id(data),
        )

    def observe(
        self,
        feeds: Mapping[str, np.ndarray],
        output_names: Sequence[str] = (),
        outputs: Sequence[Any] = (),
        now: float | None = None,
    ) -> DriftWindow | None:
        """Count one run's input rows and (when the monitored output was computed) its predictions; the
        closed window when this run completes one, else None."""
        window = self._window
        values = self.features(feeds)
        if self.names:
            window.inputs += self.bins.at_least(values)
        window.rows += values.shape[0]
        if self.prediction is not None and self.prediction.output in output_names:
            output = outputs[list(output_names).index(self.prediction.output)]
            window.prediction += self.prediction.counts(output, self.prediction_bins)
            window.prediction_rows += len(output) if np.ndim(output) else 1
        moment = self._clock() if now is None else now
        due = window.rows + self._pending.rows >= self.every  # the rows not yet in a metric are enough
        if due or (window.rows and moment - self._last_report >= self.seconds):
            return self._close(moment)
        return None

    def _close(self, moment: float) -> DriftWindow:
        window, pending = self._window, self._pending
        pending.add(window)
        per_feature = np.zeros(0)
        if self.names:
            counts = self.bins.counts_of(pending.inputs, pending.rows)
            per_feature = np.nan_to_num(psi(self.reference, counts, self.bins.sizes), nan=0.0)
        order = np.argsort(-per_feature, kind="stable")[:TOP_FEATURES]
        prediction_psi = None
        if pending.prediction_rows:
            prediction_psi = float(psi(self.prediction_reference, pending.prediction))
        metric = pending.rows >= self.every
        closed = DriftWindow(
            baseline=self.identity,
            generated=self.generated,
            rows=window.rows,
            counts=self.bins.trim(self.bins.counts_of(window.inputs, window.rows)),
            prediction_rows=window.prediction_rows,
            prediction_counts=self.prediction_bins.trim(window.prediction[None, :])[0]
            if self.prediction is not None
            else [],
            psi_rows=pending.rows,
            psi=per_feature.tolist(),
            input_psi=float(per_feature.max()) if self.names else None,
            prediction_psi=prediction_psi,
            top=[(self.names[i], float(per_feature[i])) for i in order],
            metric=metric,
            reference=None if self._reported else self._reference_fields,
        )
        window.clear()
        if metric:
            pending.clear()
        self._last_report = moment
        self._reported = True
        return closed
