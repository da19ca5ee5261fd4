"""``InferenceApp``: one loaded model answering Lambda events of every supported shape — the event sources
(``sources``) over one data plane (``dataplane``), with the function's logs and metrics.

Tests and tools build one with ``InferenceApp.from_model_dir(path)``; the Lambda entry point (``handler``)
builds one from the environment (``from_env``: SLS_MODEL_DIR, default /opt/model;
AWS_LAMBDA_FUNCTION_MEMORY_SIZE sizes the threads; SLS_S3_OUTPUT_PREFIX, default "predictions/").
Every invocation ends with its metrics (``metrics``) and one ``"invocation"`` log line (status, batch size,
runs, inference and total ms). Side effects: stdout (logs, metrics); S3 reads/writes on S3 events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics

from .dataplane import DataPlane, Tally
from .drift_watch import DriftWatch
from .loader import LoadedModel, load_model
from .metrics import InvocationMetrics, function_metrics
from .sources import EventKind, Source, detect
from .sources.direct import DirectSource
from .sources.http import HttpSource
from .sources.s3 import DEFAULT_S3_OUTPUT_PREFIX, S3Source
from .sources.sqs import SqsSource

DEFAULT_MODEL_DIR = "/opt/model"


class InferenceApp:
    """One loaded model answering Lambda events. Not shared between threads (one invocation at a time)."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        function_name: str | None = None,
        logger: Logger | None = None,
        metrics: EphemeralMetrics | None = None,
        s3_output_prefix: str = DEFAULT_S3_OUTPUT_PREFIX,
        metrics_namespace: str | None = None,
    ) -> None:
        self.model = model
        function_name = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or model.name
        service = os.environ.get("POWERTOOLS_SERVICE_NAME") or function_name
        self.logger = logger or Logger(service=service)
        self.metrics = metrics or function_metrics(function_name, service, metrics_namespace)
        self.metrics.set_default_dimensions(function_name=function_name)
        self._invocation_metrics = InvocationMetrics(self.metrics, model.load_ms)
        self.logger.info(
            "model loaded",
            extra={
                "model": model.name,
                "model_version": model.version,
                "load_ms": round(model.load_ms, 3),
                "threads": model.threads,
            },
        )
        self.plane = DataPlane(model, self.logger, DriftWatch.start(model, self.logger, self.metrics))
        # The transports, one per event shape, over the one data plane.
        self._sources: Mapping[EventKind, Source] = {
            EventKind.DIRECT: DirectSource(self.plane, self.logger),
            EventKind.HTTP_V2: HttpSource(self.plane, self.logger, EventKind.HTTP_V2),
            EventKind.HTTP_V1: HttpSource(self.plane, self.logger, EventKind.HTTP_V1),
            EventKind.SQS: SqsSource(self.plane, self.logger),
            EventKind.S3: S3Source(self.plane, self.logger, s3_output_prefix),
        }

    @classmethod
    def from_model_dir(
        cls, model_dir: str | os.PathLike[str], memory_mb: int | None = None, **kwargs: Any
    ) -> InferenceApp:
        """Load ``model_dir`` (model.onnx + model.json) with the one loader; raises loader.ModelLoadError."""
        return cls(load_model(model_dir, memory_mb=memory_mb), **kwargs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InferenceApp:
        env = os.environ if environ is None else environ
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        return cls.from_model_dir(
            env.get("SLS_MODEL_DIR", DEFAULT_MODEL_DIR),
            memory_mb=int(memory) if memory.isdigit() else None,
            s3_output_prefix=env.get("SLS_S3_OUTPUT_PREFIX", DEFAULT_S3_OUTPUT_PREFIX),
        )

    def handle(self, event: Any, context: Any = None) -> Any:
        """Answer one Lambda event of any supported shape (see ``sources``)."""
        started = time.perf_counter()
        tally = Tally()
        kind = detect(event)
        self.logger.append_keys(request_id=getattr(context, "aws_request_id", None), event_type=kind.value)
        try:
            return self._sources[kind].handle(event, tally)
        finally:
            self._invocation_metrics.emit(tally.runs, tally.run_ms, tally.rows, context)
            self.logger.info(
                "invocation",
                extra={
                    "status": tally.status,
                    "batch_size": tally.rows,
                    "runs": tally.runs,
                    "inference_ms": round(tally.run_ms, 3),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )

    def predict(self, payload: Any, tally: Tally | None = None) -> dict[str, Any]:
        """One request object → its response object. Raises RequestError for anything the client must fix."""
        return self.plane.predict(payload, tally)

    def predict_many(self, payloads: Sequence[Any], tally: Tally | None = None) -> list[Any]:
        """Several requests, batched into one session.run where shapes allow (see ``DataPlane.predict_many``)."""
        return self.plane.predict_many(payloads, tally)
