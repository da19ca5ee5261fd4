"""The function's CloudWatch metrics, as EMF lines on stdout.

Namespace POWERTOOLS_METRICS_NAMESPACE (default "SlsDeploy"), dimensions ``function_name`` and ``service``:
``InferenceLatency`` (ms of session.run, summed over the invocation) and ``BatchSize`` (rows answered) once
per invocation that ran the model; ``ModelLoadTime`` (ms) and powertools' ``ColdStart`` on the first
invocation (ColdStart is skipped for provisioned concurrency, as powertools does). The drift PSIs
(drift_watch) are printed with the same namespace and dimensions.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

DEFAULT_METRICS_NAMESPACE = "SlsDeploy"


def function_metrics(function_name: str, service: str, namespace: str | None = None) -> EphemeralMetrics:
    """The powertools metrics of the function: `namespace`, else POWERTOOLS_METRICS_NAMESPACE, else
    "SlsDeploy"; dimensions ``service`` and ``function_name``."""
    namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
    return EphemeralMetrics(namespace=namespace, service=service, function_name=function_name)


class InvocationMetrics:
    """The metrics of each invocation: the first goes through powertools (ColdStart, ModelLoadTime and the
    inference metrics), every later one that ran the model prints one InferenceLatency/BatchSize line."""

    def __init__(self, metrics: EphemeralMetrics, load_ms: float) -> None:
        self.metrics = metrics
        self.load_ms = load_ms
        self._line = EmfLine(
            metrics, {"InferenceLatency": MetricUnit.Milliseconds, "BatchSize": MetricUnit.Count}
        )
        self._first_invocation = True

    def emit(self, runs: int, run_ms: float, rows: int, context: Any) -> None:
        """Print the metrics of one invocation that made `runs` session.run calls (`run_ms` ms, `rows` rows)."""
        if self._first_invocation:
            self._first_invocation = False
            if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency":
                self.metrics.add_cold_start_metric(context=context)  # prints its own EMF line
            self.metrics.add_metric(name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=self.load_ms)
            if runs:
                self.metrics.add_metric(name="InferenceLatency", unit=MetricUnit.Milliseconds, value=run_ms)
                self.metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=rows)
            self.metrics.flush_metrics()
        elif runs:
            self._line.emit({"InferenceLatency": run_ms, "BatchSize": rows})


class EmfLine:
    """An EMF line of fixed metrics (InferenceLatency and BatchSize of a warm invocation; the drift PSIs of a
    window), rendered from a template.

    The line powertools' flush_metrics would print for these metrics, with the namespace and dimensions of
    `metrics`, but without re-validating names, units and dimensions on every invocation (powertools'
    add_metric ×2 + flush cost ~60 µs per invocation here, this ~15 µs). The first invocation, which also
    carries ColdStart and ModelLoadTime, still goes through powertools.
    """

    def __init__(self, metrics: EphemeralMetrics, units: Mapping[str, MetricUnit]) -> None:
        dimensions = {**metrics.default_dimensions, **metrics.dimension_set}
        if metrics.service and "service" not in dimensions:
            dimensions["service"] = str(metrics.service)
        self._namespace = metrics.namespace
        self._definitions = [{"Name": name, "Unit": unit.value} for name, unit in units.items()]
        self._directive = self._directive_of(self._definitions, dimensions)
        self._dimensions = dimensions
        # powertools' own switch (POWERTOOLS_METRICS_DISABLED / POWERTOOLS_DEV); its module is already loaded
        # by the metrics provider, imported here so the layer's cold-start import list stays the same.
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        self._disabled = is_metrics_disabled()

    def _directive_of(self, definitions: list[dict[str, str]], dimensions: Mapping[str, str]) -> list[Any]:
        return [{"Namespace": self._namespace, "Dimensions": [list(dimensions)], "Metrics": definitions}]

    def emit(self, values: Mapping[str, float | None]) -> None:
        """Print one line with `values` (metric name → value; None leaves that metric out)."""
        if self._disabled:
            return
        present = {name: [float(value)] for name, value in values.items() if value is not None}
        if not present:
            return
        directive = self._directive
        if len(present) != len(self._definitions):
            kept = [d for d in self._definitions if d["Name"] in present]
            directive = self._directive_of(kept, self._dimensions)
        document = {
            "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directive},
            **self._dimensions,
            **present,
        }
        # One write: awslambdaric's stdout flushes every write, and print() writes the newline separately.
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
