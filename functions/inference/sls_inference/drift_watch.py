"""Drift monitoring inside the function: the model layer's drift baseline (``drift.DriftMonitor``) counts
every run's input rows and predictions; each closed window prints one ``"drift window"`` log line (counts,
PSI per feature, top features) and, once its PSI covers at least ``every`` rows, ``InputDriftPSI`` and
``PredictionDriftPSI`` (the namespace and dimensions of the function's metrics).

Drift accounting never fails a request: a baseline that cannot be used is logged and leaves drift off, and
the first error while counting is logged and turns it off for the environment. Side effects: stdout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from .drift import DriftMonitor
from .loader import LoadedModel
from .metrics import EmfLine


class DriftWatch:
    """The drift monitor of one loaded model, with the log and metric lines of its windows."""

    def __init__(
        self, monitor: DriftMonitor | None, logger: Logger, line: EmfLine, model_version: str
    ) -> None:
        self.monitor = monitor
        self.logger = logger
        self.model_version = model_version
        self._line = line

    @classmethod
    def start(cls, model: LoadedModel, logger: Logger, metrics: EphemeralMetrics) -> DriftWatch:
        """The watch of ``model``'s drift baseline; off (``active`` false) without a usable one."""
        line = EmfLine(metrics, {"InputDriftPSI": MetricUnit.NoUnit, "PredictionDriftPSI": MetricUnit.NoUnit})
        return cls(_drift_monitor(model, logger), logger, line, model.version)

    @property
    def active(self) -> bool:
        return self.monitor is not None

    def observe(self, feeds: Mapping[str, Any], names: Sequence[str], values: Sequence[Any]) -> None:
        """Count one run; print the window it closes. Never raises: the first failure turns drift off."""
        monitor = self.monitor
        if monitor is None:
            return
        try:
            window = monitor.observe(feeds, names, values)
            if window is not None:
                if window.metric:
                    self._line.emit(
                        {"InputDriftPSI": window.input_psi, "PredictionDriftPSI": window.prediction_psi}
                    )
                self.logger.info(
                    "drift window", extra={"model_version": self.model_version, **window.log_fields()}
                )
        except Exception:
            self.monitor = None
            self.logger.exception("drift accounting failed; drift monitoring is off for this environment")


def _drift_monitor(model: LoadedModel, logger: Logger) -> DriftMonitor | None:
    """The model layer's drift monitor, None without a baseline; a baseline that cannot be used is logged
    and leaves drift off (the model still serves)."""
    try:
        monitor = DriftMonitor.from_model_dir(model.path, model.manifest)
    except Exception:
        logger.exception("drift baseline unusable; drift monitoring is off")
        return None
    if monitor is not None:
        logger.info(
            "drift monitoring",
            extra={
                "baseline": monitor.identity,
                "features": len(monitor.names),
                "prediction": None if monitor.prediction is None else monitor.prediction.output,
                "every": monitor.every,
                "seconds": monitor.seconds,
                "generated": monitor.generated,
            },
        )
        if monitor.generated:
            logger.warning(
                "the drift baseline was made from generated samples: its PSI says little; "
                "push with --sample for a meaningful one"
            )
    return monitor
