"""`sls-deploy drift`: a period's drift windows, summed and compared with the push-time baseline.

The function prints one "drift window" log line per window (sls_inference.drift): its rows, per-feature bin
counts and the id of the baseline it counted against. ``drift_report`` reads those lines through the Target
protocol (``target.logs``, so local and AWS alike), keeps the windows of one baseline — the one the `live`
version's newest window used: windows of another model version are never summed with them — sums their
counts and computes each feature's PSI against the baseline with sls_inference.drift.psi. The baseline's
counts come from the windows themselves (each execution environment's first window carries them) or from
the project's build folder (`.sls-deploy/build/<name>/model/baseline.json`) when its id matches; without
either, the windows' own PSIs are averaged (weighted by rows) and the report says it is approximate.
Reads logs and files; writes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sls_inference.drift import (
    BASELINE_NAME,
    DEFAULT_EVERY,
    DEFAULT_SECONDS,
    NO_DATA,
    baseline_id,
    pad_counts,
    psi,
    psi_verdict,
    reference,
)
from sls_inference.loader import MANIFEST_NAME

from ..core.records import LogEvent
from ..core.timespec import span_text
from ..targets.base import Target

WINDOW_MESSAGE = "drift window"
SHARP_BASELINE_ROWS = 1000  # fewer baseline rows than this: the report says how much PSI is sampling noise


@dataclass(frozen=True)
class DriftReport:
    """Drift of the function `name` over [start, end): PSI of the period's summed windows against the
    baseline, overall (the highest feature's, and the prediction's) and per feature, highest first."""

    name: str
    version: str  # the function version(s) whose windows were summed ("3", "2,3"); "" without windows
    start: float
    end: float
    rows: int
    windows: int
    input_psi: float | None
    prediction_psi: float | None
    features: tuple[tuple[str, float, str], ...]  # (feature, psi, verdict), highest PSI first
    verdict: str  # stable | moderate | significant | no data: the band of the worse of input and prediction
    baseline_generated: bool
    baseline: str = ""  # the baseline's id (first 12 hex digits of baseline.json's sha256)
    prediction_output: str | None = None
    approximate: bool = False  # the baseline was not found: PSIs are the windows' own, averaged
    message: str = ""  # why there is nothing to report
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "name": self.name,
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "windows": self.windows,
            "input_psi": rounded(self.input_psi),
            "prediction_psi": rounded(self.prediction_psi),
            "verdict": self.verdict,
            "features": [
                {"feature": feature, "psi": round(value, 4), "verdict": band}
                for feature, value, band in self.features
            ],
            "baseline": self.baseline,
            "baseline_generated": self.baseline_generated,
            "prediction_output": self.prediction_output,
            "approximate": self.approximate,
            "message": self.message,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Window:
    at: float
    version: str
    fields: Mapping[str, Any]

    @property
    def baseline(self) -> str:
        return str(self.fields.get("baseline", ""))

    @property
    def rows(self) -> int:
        return int(self.fields.get("rows", 0))


def _window(event: LogEvent) -> _Window | None:
    """The fields of a "drift window" log line (powertools JSON, possibly after a prefix), else None."""
    start = event.message.find("{")
    if start < 0:
        return None
    try:
        fields = json.loads(event.message[start:])
    except ValueError:
        return None
    if not isinstance(fields, dict) or fields.get("message") != WINDOW_MESSAGE:
        return None
    if not isinstance(fields.get("counts"), list):
        return None
    return _Window(event.timestamp, event.version or "", fields)


def _build_baseline(build_dir: Path | None, name: str) -> tuple[bytes | None, Mapping[str, Any]]:
    """baseline.json's bytes and model.json's "drift" entry from the project's last build of `name`."""
    if build_dir is None:
        return None, {}
    model_dir = build_dir / name / "model"
    try:
        manifest = json.loads((model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, {}
    entry = manifest.get("drift") if isinstance(manifest, dict) else None
    if not isinstance(entry, dict):
        return None, {}
    try:
        return (model_dir / str(entry.get("baseline", BASELINE_NAME))).read_bytes(), entry
    except OSError:
        return None, entry


def _reference(windows: Iterable[_Window], wanted: str, local: bytes | None) -> Mapping[str, Any] | None:
    """The baseline's names and counts: from a window that carries them, else from the build folder's
    baseline.json when it is the one the windows counted against."""
    for window in windows:
        carried = window.fields.get("reference")
        if isinstance(carried, dict) and isinstance(carried.get("counts"), list):
            return carried
    if local is None or baseline_id(local) != wanted:
        return None
    return reference(json.loads(local))


def _live_versions(target: Target, name: str) -> tuple[str, ...]:
    """The versions `live` routes to, its main one first."""
    routing = target.versions(name).alias("live")
    if routing is None:
        return ()
    return (routing.version, *((routing.extra_version,) if routing.extra_version else ()))


def _chosen(windows: list[_Window], live: tuple[str, ...]) -> str:
    """The baseline to report: the one of the newest window of live's main version, else of any live
    version, else of the newest window."""
    for versions in (live[:1], live):
        found = [w for w in windows if w.version in versions]
        if found:
            return found[-1].baseline
    return windows[-1].baseline


def _no_windows(name: str, start: float, end: float, cadence: Mapping[str, Any], has_baseline: bool) -> str:
    every = cadence.get("every", DEFAULT_EVERY)
    seconds = cadence.get("seconds", DEFAULT_SECONDS)
    text = (
        f"no drift windows in the last {span_text(end - start)}: the function reports every {every} rows "
        f"or {seconds:g} seconds of traffic"
    )
    if not has_baseline:
        text += f" (and only when its model layer holds a drift baseline: push {name} again to add one)"
    return text


def _sum(windows: list[_Window], features: int, key: str) -> tuple[np.ndarray, list[_Window]]:
    """The windows' `key` counts summed per feature (padded), and the windows that did not fit."""
    total: np.ndarray | None = None
    misfits: list[_Window] = []
    for window in windows:
        counts = window.fields.get(key)
        lists = counts if key == "counts" else [counts]
        if not isinstance(lists, list) or len(lists) != features:
            misfits.append(window)
            continue
        matrix = pad_counts(lists)
        if total is not None and total.shape[1] != matrix.shape[1]:
            width = max(total.shape[1], matrix.shape[1])
            total = np.pad(total, ((0, 0), (0, width - total.shape[1])))
            matrix = np.pad(matrix, ((0, 0), (0, width - matrix.shape[1])))
        total = matrix if total is None else total + matrix
    return (total if total is not None else np.zeros((features, 1), dtype=np.int64)), misfits


def _psi_against(reference: list[list[int]], live: np.ndarray) -> np.ndarray:
    ref = pad_counts(reference)
    width = max(ref.shape[1], live.shape[1])
    ref = np.pad(ref, ((0, 0), (0, width - ref.shape[1])))
    live = np.pad(live, ((0, 0), (0, width - live.shape[1])))
    return np.asarray(psi(ref, live, [len(counts) for counts in reference]))


def _weighted(windows: list[_Window], key: str) -> float | None:
    pairs = [
        (float(value), w.rows)
        for w in windows
        if isinstance(value := w.fields.get(key), int | float) and w.rows > 0
    ]
    total = sum(r for _, r in pairs)
    return sum(v * r for v, r in pairs) / total if total else None


def _overall(input_psi: float | None, prediction_psi: float | None) -> str:
    present = [v for v in (input_psi, prediction_psi) if v is not None]
    return psi_verdict(max(present)) if present else NO_DATA


def drift_report(
    target: Target,
    name: str,
    since: float,
    until: float | None = None,
    *,
    build_dir: Path | None = None,
) -> DriftReport:
    """Drift of `name` from `since` (epoch seconds) to `until` (now). `build_dir` (the project's
    `.sls-deploy/build`) lets the baseline come from the last build when no window carries it."""
    end = time.time() if until is None else until
    live = _live_versions(target, name)  # a function that is not deployed fails here, with the target's hint
    found = (_window(event) for event in target.logs(name, since, filter_text=WINDOW_MESSAGE))
    windows = [w for w in found if w is not None and w.at < end]
    local, cadence = _build_baseline(build_dir, name)
    empty = DriftReport(
        name=name,
        version="",
        start=since,
        end=end,
        rows=0,
        windows=0,
        input_psi=None,
        prediction_psi=None,
        features=(),
        verdict=NO_DATA,
        baseline_generated=False,
    )
    if not windows:
        message = _no_windows(name, since, end, cadence, local is not None or build_dir is None)
        return replace(empty, message=message)
    wanted = _chosen(windows, live)
    mine = [w for w in windows if w.baseline == wanted]
    notes: list[str] = []
    others = len(windows) - len(mine)
    if others:
        notes.append(
            f"{others} window(s) counted against another baseline (another model version) are left out"
        )
    versions = ",".join(sorted({w.version for w in mine if w.version}, key=lambda v: (len(v), v)))
    generated = any(bool(w.fields.get("generated")) for w in mine)
    if generated:
        notes.append("the baseline was made from generated samples: push with --sample for meaningful PSI")
    base = replace(
        empty,
        version=versions,
        rows=sum(w.rows for w in mine),
        windows=len(mine),
        baseline=wanted,
        baseline_generated=generated,
    )
    known = _reference(mine, wanted, local)
    if known is None:
        return _approximate(base, mine, notes)
    return _against(base, mine, known, notes)


def _approximate(base: DriftReport, mine: list[_Window], notes: list[str]) -> DriftReport:
    """Without the baseline's counts: the windows' own PSIs, averaged by rows."""
    input_psi, prediction_psi = _weighted(mine, "input_psi"), _weighted(mine, "prediction_psi")
    notes.append(
        f"baseline {base.baseline} is neither in a window of this period (each environment's first window "
        "carries it) nor in this project's build folder: PSI is the windows' own, averaged; widen "
        "--since or run drift in the project that pushed this version"
    )
    return replace(
        base,
        input_psi=input_psi,
        prediction_psi=prediction_psi,
        verdict=_overall(input_psi, prediction_psi),
        approximate=True,
        notes=tuple(notes),
    )


def _against(
    base: DriftReport, mine: list[_Window], known: Mapping[str, Any], notes: list[str]
) -> DriftReport:
    """The windows' counts summed and compared with the baseline's, per feature and for the prediction."""
    names = [str(n) for n in known["features"]]
    counts, misfits = _sum(mine, len(names), "counts")
    if misfits:
        notes.append(f"{len(misfits)} window(s) did not match the baseline's features and are left out")
    per_feature = np.nan_to_num(_psi_against(known["counts"], counts), nan=0.0) if names else np.zeros(0)
    ranked = sorted(zip(names, per_feature.tolist(), strict=True), key=lambda item: -item[1])
    input_psi = float(per_feature.max()) if names else None
    prediction = known.get("prediction")
    prediction_psi = None
    predicted = [w for w in mine if int(w.fields.get("prediction_rows", 0)) > 0]
    if prediction and predicted:
        totals, _ = _sum(predicted, 1, "prediction_counts")
        prediction_psi = float(_psi_against([prediction["counts"]], totals)[0])
    noise = _sampling_noise(int(known.get("rows", 0)), base.rows, known["counts"])
    if noise is not None:
        notes.append(noise)
    return replace(
        base,
        input_psi=input_psi,
        prediction_psi=prediction_psi,
        features=tuple((feature, value, psi_verdict(value)) for feature, value in ranked),
        verdict=_overall(input_psi, prediction_psi),
        prediction_output=None if not prediction else str(prediction.get("output")),
        notes=tuple(notes),
    )


def _sampling_noise(baseline_rows: int, live_rows: int, counts: list[list[int]]) -> str | None:
    """A note when a small baseline makes PSI noisy: with B bins, n baseline and m live rows from the same
    distribution, PSI is about (B − 1)·(1/n + 1/m) on average (like a χ² statistic over n·m/(n + m))."""
    if not (0 < baseline_rows < SHARP_BASELINE_ROWS and live_rows):
        return None
    degrees = sum(len(c) - 1 for c in counts) / max(1, len(counts))  # bins − 1, averaged over features
    noise = degrees * (1 / baseline_rows + 1 / live_rows)
    if noise < 0.05:
        return None
    return (
        f"the baseline holds {baseline_rows} sample rows: a PSI of about {noise:.2f} per feature is "
        f"expected from sampling alone; push with more --sample rows (≥ {SHARP_BASELINE_ROWS}) for a "
        "sharper baseline"
    )
