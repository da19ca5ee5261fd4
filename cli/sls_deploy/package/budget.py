"""The deployment budget: do a function's artifacts fit Lambda's limits (limits.py)?

Checks the total unzipped size of function code + layers (250 MiB), the layer count (5), and lists the
zips too large for a direct upload (50 MiB: those go through S3, which is allowed). Pure computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core import limits
from ..core.artifacts import Artifact
from ..core.errors import BudgetError
from ..core.jsonable import Jsonable

MIB = 1024 * 1024
BUDGET_HINT = "try --compress int8-weight, --arch arm64, or a smaller model"


def mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


@dataclass(frozen=True)
class ArtifactBudget(Jsonable):
    kind: str
    name: str
    unzipped_bytes: int
    zipped_bytes: int
    needs_s3: bool  # zipped size above the direct-upload limit


@dataclass(frozen=True)
class BudgetReport:
    artifacts: tuple[ArtifactBudget, ...]
    total_unzipped_bytes: int
    max_unzipped_bytes: int
    layer_count: int
    max_layers: int

    @property
    def headroom_bytes(self) -> int:
        """Unzipped bytes still free (negative when over)."""
        return self.max_unzipped_bytes - self.total_unzipped_bytes

    @property
    def fits_unzipped(self) -> bool:
        return self.total_unzipped_bytes <= self.max_unzipped_bytes

    @property
    def fits_layers(self) -> bool:
        return self.layer_count <= self.max_layers

    @property
    def ok(self) -> bool:
        return self.fits_unzipped and self.fits_layers

    @property
    def needs_s3(self) -> tuple[str, ...]:
        """Names of the artifacts that must be uploaded through S3."""
        return tuple(a.name for a in self.artifacts if a.needs_s3)

    def problems(self) -> list[str]:
        found = []
        if not self.fits_unzipped:
            found.append(
                f"function code + layers unzipped are {mib(self.total_unzipped_bytes)}, over Lambda's "
                f"{mib(self.max_unzipped_bytes)} ({self.max_unzipped_bytes:,} bytes) by "
                f"{mib(-self.headroom_bytes)}"
            )
        if not self.fits_layers:
            found.append(f"{self.layer_count} layers, Lambda allows at most {self.max_layers}")
        return found

    def breakdown(self) -> str:
        """One line per artifact: name, kind, unzipped and zipped size, and the total."""
        width = max([len(a.name) for a in self.artifacts] + [5])
        lines = [f"  {'name':<{width}}  {'kind':<16}  {'unzipped':>11}  {'zipped':>11}"]
        for a in self.artifacts:
            upload = "  (via S3)" if a.needs_s3 else ""
            lines.append(
                f"  {a.name:<{width}}  {a.kind:<16}  {mib(a.unzipped_bytes):>11}  "
                f"{mib(a.zipped_bytes):>11}{upload}"
            )
        lines.append(
            f"  {'total':<{width}}  {'':<13}  {mib(self.total_unzipped_bytes):>11}  "
            f"{mib(sum(a.zipped_bytes for a in self.artifacts)):>11}"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "artifacts": [a.to_json() for a in self.artifacts],
            "total_unzipped_bytes": self.total_unzipped_bytes,
            "max_unzipped_bytes": self.max_unzipped_bytes,
            "headroom_bytes": self.headroom_bytes,
            "layer_count": self.layer_count,
            "max_layers": self.max_layers,
            "needs_s3": list(self.needs_s3),
            "max_direct_upload_zipped_bytes": limits.MAX_DIRECT_UPLOAD_ZIPPED_BYTES,
        }


def budget_report(artifacts: Sequence[Artifact]) -> BudgetReport:
    """Measure `artifacts` (function code and layers of one function) against Lambda's limits; never raises."""
    rows = tuple(
        ArtifactBudget(
            kind=a.kind,
            name=a.name,
            unzipped_bytes=a.unzipped_bytes,
            zipped_bytes=a.zipped_bytes,
            needs_s3=a.zipped_bytes > limits.MAX_DIRECT_UPLOAD_ZIPPED_BYTES,
        )
        for a in artifacts
    )
    return BudgetReport(
        artifacts=rows,
        total_unzipped_bytes=sum(a.unzipped_bytes for a in artifacts),
        max_unzipped_bytes=limits.MAX_UNZIPPED_BYTES,
        layer_count=sum(1 for a in artifacts if a.kind.endswith("-layer")),
        max_layers=limits.MAX_LAYERS,
    )


def check_budget(artifacts: Sequence[Artifact]) -> BudgetReport:
    """The budget report, or BudgetError (with a per-artifact breakdown and a hint) if it does not fit."""
    report = budget_report(artifacts)
    if not report.ok:
        hints = [BUDGET_HINT] if not report.fits_unzipped else []
        if not report.fits_layers:
            hints.append(f"attach at most {report.max_layers} layers")
        raise BudgetError(
            "the function does not fit Lambda's deployment limits: "
            + "; ".join(report.problems())
            + "\n"
            + report.breakdown(),
            "; ".join(hints),
        )
    return report
