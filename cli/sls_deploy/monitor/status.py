"""`sls-deploy status`: one row per deployed model — the version `live` serves (and a canary's share),
invocations, errors, p99 duration and cold starts over the last hour, the drift verdict, and its alarms.

Reads everything through the Target protocol (list, metrics, alarms), so it answers the same on both targets.
No side effects beyond the target's own reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..core.jsonable import Jsonable
from ..core.progress import Progress
from ..core.records import AlarmState, AliasRouting
from ..targets.base import Target
from .drift import psi_verdict

STATUS_WINDOW_S = 3600.0


@dataclass(frozen=True)
class ModelStatus(Jsonable):
    name: str
    version: str
    routing: AliasRouting | None
    invocations: int
    errors: int
    p99_ms: float | None
    cold_starts: int
    input_drift_psi: float | None
    drift: str  # stable | moderate | significant | no data
    alarms: tuple[AlarmState, ...] = ()

    @property
    def firing(self) -> tuple[AlarmState, ...]:
        return tuple(alarm for alarm in self.alarms if alarm.state == "ALARM")


@dataclass(frozen=True)
class StatusReport(Jsonable):
    target: str
    start: float
    end: float
    models: tuple[ModelStatus, ...] = field(default_factory=tuple)


def project_status(
    target: Target, window_s: float = STATUS_WINDOW_S, progress: Progress | None = None
) -> StatusReport:
    """The status of every model deployed on `target`, over the last `window_s` seconds."""
    end = time.time()
    start = end - window_s
    deployments = target.list()
    alarms_by_model: dict[str, list[AlarmState]] = {}
    if deployments:
        for alarm in target.alarms(None):
            alarms_by_model.setdefault(alarm.model, []).append(alarm)
    rows = []
    for deployment in deployments:
        if progress is not None:
            progress(f"reading the metrics of {deployment.name}")
        metrics = target.metrics(deployment.name, start, end)
        rows.append(
            ModelStatus(
                name=deployment.name,
                version=deployment.version,
                routing=deployment.routing,
                invocations=metrics.invocations,
                errors=metrics.errors,
                p99_ms=metrics.duration_ms.p99,
                cold_starts=metrics.cold_starts,
                input_drift_psi=metrics.input_drift_psi,
                drift="no data" if metrics.input_drift_psi is None else psi_verdict(metrics.input_drift_psi),
                alarms=tuple(alarms_by_model.get(deployment.name, ())),
            )
        )
    return StatusReport(target=target.name, start=start, end=end, models=tuple(rows))
