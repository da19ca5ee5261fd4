"""The drift baseline made at push: the sample inputs and the model's outputs on them, binned.

``compute_baseline`` turns the push-time Samples (the ones the smoke check runs) and the model's outputs on
them into the baseline document sls_inference.drift reads in the function (its format is described
there). It decides how inputs become features, where each feature's bins are cut, and which output is
watched; the binning itself (features of a row, bin counts) is sls_inference.drift's, so the baseline and the
function count the same way. Pure: no I/O.

- Inputs: a model whose numeric inputs have at most NARROW_MAX_FEATURES elements per row in total, each
  with fixed non-batch dims, gets one feature per element (``input[12]``); otherwise each input gets per-row
  summaries (``pixels.mean``, ``.std``, ``.min``, ``.max``, ``.zeros``, and ``.length`` for integer ids).
  String and bool inputs are skipped (listed in ``skipped``).
- Bins: up to BINS quantile bins per feature, cut halfway between neighbouring distinct sample values, so a
  value the samples hold never sits on an edge (small noise does not move it across) and ties never split;
  edges that coincide are merged. A constant feature gets three bins: below, around (±0.5·max(1, |c|)) and
  above its value, so live values leaving it are seen. Outer edges are −inf/+inf (implicit).
- Prediction: a probability output (rows in [0, 1] summing to 1) or a score output named like
  prob/score/logit/class of width ≥ 2 → histogram of argmax classes; else an integer label output →
  histogram of labels (plus one bin for labels the samples did not produce); else the first numeric
  output → its per-row mean in quantile bins. The chosen output is recorded with the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sls_inference.drift import (
    BASELINE_FORMAT,
    BASELINE_NAME,
    LENGTH_STAT,
    SUMMARY_STATS,
    Bins,
    InputFeatures,
    PredictionValues,
    baseline_id,
    encode_baseline,
)
from sls_inference.signature import TensorSpec

from .samples import Samples

BINS = 10
NARROW_MAX_FEATURES = 64
MAX_LABELS = 256  # an integer output with more distinct values than this is binned by value, not label
_SCORE_NAME = re.compile(r"prob|score|logit|class", re.IGNORECASE)
_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class DriftBaseline:
    """A baseline document, its canonical bytes and what model.json's "drift" entry says about it."""

    document: Mapping[str, Any]
    every: int
    seconds: int

    @property
    def data(self) -> bytes:
        return encode_baseline(self.document)

    @property
    def id(self) -> str:
        return baseline_id(self.data)

    @property
    def watches_anything(self) -> bool:
        """False when the model has neither numeric inputs nor a numeric output: no baseline is written."""
        return bool(self.document["features"] or self.document["prediction"])

    def manifest_entry(self) -> dict[str, Any]:
        return {"baseline": BASELINE_NAME, "every": self.every, "seconds": self.seconds}

    def summary(self) -> dict[str, Any]:
        """What a build reports about its baseline."""
        prediction = self.document.get("prediction")
        return {
            "baseline": self.id,
            "rows": self.document["rows"],
            "generated": self.document["generated"],
            "features": len(self.document["features"]),
            "inputs": {entry["name"]: entry["kind"] for entry in self.document["inputs"]},
            "prediction": None if not prediction else f"{prediction['output']} ({prediction['kind']})",
            "every": self.every,
            "seconds": self.seconds,
        }


def _row_width(spec: TensorSpec) -> int | None:
    """Elements per row from the signature (first dim = batch), or None when a non-batch dim is not fixed."""
    if spec.shape is None or not spec.shape:
        return None
    dims = [d for d in spec.shape[1:] if isinstance(d, int)]
    return math.prod(dims) if len(dims) == len(spec.shape) - 1 else None


def input_layouts(
    inputs: Sequence[TensorSpec],
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, str]]]:
    """How each input becomes features: (layouts for InputFeatures, feature names, skipped inputs)."""
    skipped = [
        {"input": spec.name, "reason": f"{spec.dtype} inputs are not binned"}
        for spec in inputs
        if spec.dtype in ("string", "bool")
    ]
    numeric = [spec for spec in inputs if spec.dtype not in ("string", "bool")]
    widths = [_row_width(spec) for spec in numeric]
    narrow = all(w is not None for w in widths) and sum(w or 0 for w in widths) <= NARROW_MAX_FEATURES
    layouts: list[dict[str, Any]] = []
    names: list[str] = []
    for spec, width in zip(numeric, widths, strict=True):
        if narrow and width is not None:
            layouts.append({"name": spec.name, "kind": "values", "width": width})
            scalar = spec.shape is not None and len(spec.shape) == 1
            names.extend([spec.name] if scalar else [f"{spec.name}[{i}]" for i in range(width)])
        else:
            integer = np.dtype(spec.dtype).kind in "iu"
            stats = [*SUMMARY_STATS, *([LENGTH_STAT] if integer else [])]
            layouts.append({"name": spec.name, "kind": "summary", "stats": stats})
            names.extend(f"{spec.name}.{stat}" for stat in stats)
    return layouts, names, skipped


def _edge(low: float, high: float) -> float:
    """A cut between neighbouring distinct values low < high: their midpoint, shortened to 6 significant
    digits when that still lies in (low, high] (shorter JSON, and stable against last-bit differences)."""
    middle = (low + high) / 2.0
    short = float(f"{middle:.6g}")
    return short if low < short <= high else float(middle)


def quantile_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Interior edges of up to `bins` quantile bins of `values` (see the module docstring)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return []
    distinct, counts = np.unique(finite, return_counts=True)
    if distinct.size == 1:
        value = float(distinct[0])
        spread = 0.5 * max(1.0, abs(value))
        return [value - spread, value + spread]
    below = np.cumsum(counts)[:-1] / finite.size  # share of values below the cut after distinct[j]
    targets = np.arange(1, bins) / bins
    chosen = np.unique(np.abs(below[None, :] - targets[:, None]).argmin(axis=1))
    return [_edge(float(distinct[j]), float(distinct[j + 1])) for j in chosen]


def _probability_rows(values: np.ndarray) -> bool:
    if values.ndim != 2 or values.shape[1] < 2 or values.size == 0 or values.dtype.kind != "f":
        return False
    if np.any(values < -_SUM_TOLERANCE) or np.any(values > 1 + _SUM_TOLERANCE):
        return False
    return bool(np.all(np.abs(values.sum(axis=1) - 1.0) <= _SUM_TOLERANCE * values.shape[1]))


_Ran = Sequence[tuple[TensorSpec, np.ndarray]]  # the numeric outputs with their values on the samples
_Choice = tuple[PredictionValues, str]  # the output to watch and how, with the reason


def _probabilities(ran: _Ran) -> _Choice | None:
    for spec, values in ran:
        if _probability_rows(values):
            return PredictionValues(spec.name, "classes"), "probabilities: argmax class"
    return None


def _class_scores(ran: _Ran) -> _Choice | None:
    for spec, values in ran:
        if values.ndim == 2 and values.shape[1] >= 2 and _SCORE_NAME.search(spec.name):
            return PredictionValues(spec.name, "classes"), "class scores: argmax class"
    return None


def _integer_labels(ran: _Ran) -> _Choice | None:
    for spec, values in ran:
        one_per_row = values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)
        if values.dtype.kind in "iu" and one_per_row:
            labels = np.unique(values)
            if labels.size <= MAX_LABELS:
                found = tuple(int(v) for v in labels)
                return PredictionValues(spec.name, "labels", found), "integer labels"
    return None


def _row_means(ran: _Ran) -> _Choice | None:
    """The first float output, else the first integer one."""
    for kind in ("f", "iu"):
        for spec, values in ran:
            if values.dtype.kind in kind:
                return PredictionValues(spec.name, "mean"), "mean of each output row"
    return None


def choose_prediction(
    outputs: Sequence[TensorSpec], predictions: Mapping[str, np.ndarray]
) -> tuple[PredictionValues, str] | None:
    """The output to watch and how (see the module docstring), with the reason; None when none is numeric."""
    ran = [
        (spec, np.asarray(predictions[spec.name]))
        for spec in outputs
        if spec.name in predictions and spec.dtype not in ("string", "bool")
    ]
    ran = [(spec, values) for spec, values in ran if values.dtype.kind in "fiu" and values.ndim >= 1]
    for rule in (_probabilities, _class_scores, _integer_labels, _row_means):  # in order of preference
        chosen = rule(ran)
        if chosen is not None:
            return chosen
    return None


def _prediction_entry(watch: PredictionValues, reason: str, output: np.ndarray) -> dict[str, Any]:
    if watch.kind == "classes":
        edges = [k + 0.5 for k in range(int(np.asarray(output).shape[1]) - 1)]
    elif watch.kind == "labels":
        edges = [k + 0.5 for k in range(len(watch.labels))]  # the last bin: labels not seen at push
    else:
        edges = quantile_edges(watch(output)[:, 0])
    counts = watch.counts(output, Bins([edges])).tolist()
    entry: dict[str, Any] = {
        "output": watch.output,
        "kind": watch.kind,
        "reason": reason,
        "edges": edges,
        "counts": counts,
    }
    if watch.kind == "labels":
        entry["labels"] = list(watch.labels)
    return entry


def compute_baseline(
    samples: Samples,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    predictions: Mapping[str, np.ndarray],
    bins: int = BINS,
) -> dict[str, Any]:
    """The baseline document of `samples` (model inputs `inputs`) and the model's `predictions` on them
    (output name → array). Deterministic: the same samples and outputs give the same document."""
    layouts, names, skipped = input_layouts(inputs)
    matrix = InputFeatures(tuple(layouts))(samples.arrays)
    edges = [quantile_edges(matrix[:, column], bins) for column in range(matrix.shape[1])]
    binning = Bins(edges)
    counts = binning.trim(binning.counts(matrix))
    features = [
        {"name": name, "edges": cut, "counts": count}
        for name, cut, count in zip(names, edges, counts, strict=True)
    ]
    chosen = choose_prediction(outputs, predictions)
    prediction = None if chosen is None else _prediction_entry(*chosen, predictions[chosen[0].output])
    notes: list[str] = []
    if samples.generated:
        notes.append("made from generated (random) samples: push with --sample for a meaningful baseline")
    if chosen is None:
        notes.append("no numeric output: predictions are not watched")
    return {
        "format": BASELINE_FORMAT,
        "generated": samples.generated,
        "samples": "generated" if samples.generated else Path(samples.source).name,
        "rows": int(matrix.shape[0]),
        "bins": bins,
        "inputs": layouts,
        "features": features,
        "prediction": prediction,
        "skipped": skipped,
        "notes": notes,
    }
