"""The compression report: one row per candidate (method, sizes, agreement, latency ratios, verdict and
reason) and the choice made. Pure data; rendered by sls_deploy.output.

Two forms: to_json() is everything measured (the CLI's output, `compression-report.json`); to_manifest() is
the part that is the same on every run with the same model and samples (no timings), saved in model.json, so
that an unchanged push builds a byte-identical model layer and publishes no new version."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .gate import Agreement, Latency

Verdict = Literal["baseline", "chosen", "passed", "refused", "failed"]


@dataclass(frozen=True)
class CandidateReport:
    method: str
    verdict: Verdict
    reason: str
    size_bytes: int | None = None  # model.onnx
    zipped_bytes: int | None = None  # the model layer zip (deterministic)
    agreement: Agreement | None = None
    latency: Latency | None = None
    load_ms: float | None = None  # session creation, as at a cold start
    session_config: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    seconds: float = 0.0  # time spent converting and measuring

    @property
    def passed(self) -> bool:
        return self.verdict in ("baseline", "chosen", "passed")

    def with_verdict(self, verdict: Verdict, reason: str | None = None) -> CandidateReport:
        from dataclasses import replace

        return replace(self, verdict=verdict, reason=self.reason if reason is None else reason)

    def to_manifest(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "verdict": self.verdict,
            "size_bytes": self.size_bytes,
            "zipped_bytes": self.zipped_bytes,
            "agreement": None if self.agreement is None else self.agreement.to_json(),
            "session_config": dict(self.session_config),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "verdict": self.verdict,
            "reason": self.reason,
            "size_bytes": self.size_bytes,
            "zipped_bytes": self.zipped_bytes,
            "agreement": None if self.agreement is None else self.agreement.to_json(),
            "latency": None if self.latency is None else self.latency.to_json(),
            "load_ms": None if self.load_ms is None else round(self.load_ms, 2),
            "session_config": dict(self.session_config),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class CompressionReport:
    method: str  # the chosen plan ("none": the original model)
    requested: str  # what --compress said
    reason: str  # why this one (or why fp32 was kept)
    metric: str
    min_agreement: float
    max_slowdown: float
    samples: str  # the file validation rows come from, or "generated"
    rows: int  # validation rows: what every agreement is measured on
    forced: bool
    candidates: tuple[CandidateReport, ...]
    warnings: tuple[str, ...] = ()
    calibration_rows: int | None = None  # rows int8-static calibrates on (disjoint from the validation rows)
    split: str = ""  # how the samples were divided

    @property
    def chosen(self) -> CandidateReport:
        return next(c for c in self.candidates if c.method == self.method)

    @property
    def baseline(self) -> CandidateReport:
        return next(c for c in self.candidates if c.verdict == "baseline" or c.method == "none")

    def to_manifest(self) -> dict[str, Any]:
        """The run-independent record for model.json (timings, reasons and warnings left out)."""
        return {
            "method": self.method,
            "requested": self.requested,
            "metric": self.metric,
            "min_agreement": self.min_agreement,
            "max_slowdown": self.max_slowdown,
            "samples": Path(self.samples).name,  # not the path it was given by
            "rows": self.rows,
            "calibration_rows": self.calibration_rows,
            "split": self.split,
            "forced": self.forced,
            "report": [c.to_manifest() for c in self.candidates],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "requested": self.requested,
            "reason": self.reason,
            "metric": self.metric,
            "min_agreement": self.min_agreement,
            "max_slowdown": self.max_slowdown,
            "samples": self.samples,
            "rows": self.rows,
            "calibration_rows": self.calibration_rows,
            "split": self.split,
            "forced": self.forced,
            "warnings": list(self.warnings),
            "report": [c.to_json() for c in self.candidates],
        }
