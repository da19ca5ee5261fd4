"""The Lambda entry point: ``lambda_handler(event, context)`` serving one ONNX model.

``InferenceApp`` holds a LoadedModel, a powertools Logger and EMF metrics and answers every event shape of
``events`` (direct invoke, Function URL / HTTP API v2, REST API v1, SQS, S3). Tests and tools build one with
``InferenceApp.from_model_dir(path)``; ``lambda_handler`` uses a module-level instance made from the
environment (SLS_MODEL_DIR, default /opt/model; AWS_LAMBDA_FUNCTION_MEMORY_SIZE sizes the threads). Inside a
Lambda runtime (AWS_LAMBDA_RUNTIME_API set) that instance is created at import, so a missing or altered model
fails the init phase loudly (ModelLoadError); elsewhere it is created on the first call.

Answers:
- direct invoke: the response object, or for a bad request the error body
  ``{"error": {"status", "message", "field"?, "expected"?}}`` as the payload (no exception, so clients read
  why). Internal failures raise, so Lambda reports a function error and counts it.
- HTTP: ``{"statusCode", "headers": {"content-type": "application/json"}, "body"}``; a request in
  KServe/Triton's binary tensor extension (``Inference-Header-Content-Length``) is read by
  ``codec.binary_tensors`` and answered in JSON; errors carry the same
  error body with 400/404/405/413, internal failures a 500 with a generic message (traceback in the log).
- SQS: all records run as one batched ``session.run`` where the model's shapes allow (first dim symbolic on
  every input, equal trailing dims), per record otherwise. Bad records are returned in ``batchItemFailures``
  (the event source mapping needs ``FunctionResponseTypes: [ReportBatchItemFailures]``). Predictions are
  written to the log as structured ``"sqs prediction"`` records (``message_id``, ``prediction``); larger
  than LOG_PREDICTION_MAX_CHARS they are logged as truncated.
- S3 object created: the JSON object is read (boto3 is imported only here), run, and the response written to
  ``<SLS_S3_OUTPUT_PREFIX><key without extension>.json`` in the same bucket; a bad request writes the error
  body to ``...<key without extension>.error.json``. Objects under the prefix are skipped (no loops).

Metrics (EMF on stdout, namespace POWERTOOLS_METRICS_NAMESPACE default "SlsDeploy", dimensions
``function_name`` and ``service``): ``InferenceLatency`` (ms of session.run, summed over the invocation) and
``BatchSize`` (rows answered) once per invocation that ran the model; ``ModelLoadTime`` (ms) and powertools'
``ColdStart`` on the first invocation (ColdStart is skipped for provisioned concurrency, as powertools does).

Drift: when the model layer holds a drift baseline (``drift.DriftMonitor``), every run's input rows and
predictions are counted against it; each closed window prints one ``"drift window"`` log line (counts, PSI per
feature, top features) and, once its PSI covers at least ``every`` rows, ``InputDriftPSI`` and
``PredictionDriftPSI`` (same namespace and dimensions).
Drift accounting never fails a request: its first error is logged and turns it off for the environment.
Side effects: stdout (logs, metrics); S3 reads/writes on S3 events.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort
from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from . import batching, codec, events
from .codec import INTERNAL_ERROR_MESSAGE, InferenceRequest, RequestError, binary_tensors
from .drift import DriftMonitor
from .loader import LoadedModel, load_model
from .signature import TensorSpec

DEFAULT_MODEL_DIR = "/opt/model"
DEFAULT_S3_OUTPUT_PREFIX = "predictions/"
DEFAULT_METRICS_NAMESPACE = "SlsDeploy"
LOG_PREDICTION_MAX_CHARS = (
    32 * 1024
)  # CloudWatch Logs caps an event at 256 KB; keep SQS prediction logs small

# onnxruntime reports kernel failures caused by the input (an index out of range, shapes that do not broadcast)
# as "Non-zero status code returned while running <Op> node"; those are the client's, allocation failures not.
_RUNNING_NODE = "Non-zero status code returned while running"
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_ORT_SOURCE = re.compile(r"/onnxruntime_src/\S+ ")


@dataclass
class _Tally:
    """What one invocation did, for its metrics and summary log line."""

    rows: int = 0
    runs: int = 0
    run_ms: float = 0.0
    status: int | None = None


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
        self.function_name = function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or model.name
        service = os.environ.get("POWERTOOLS_SERVICE_NAME") or self.function_name
        self.logger = logger or Logger(service=service)
        namespace = (
            metrics_namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
        )
        self.metrics = metrics or EphemeralMetrics(
            namespace=namespace, service=service, function_name=self.function_name
        )
        self.metrics.set_default_dimensions(function_name=self.function_name)
        self._invocation_metrics = _EmfLine(
            self.metrics, {"InferenceLatency": MetricUnit.Milliseconds, "BatchSize": MetricUnit.Count}
        )
        self._drift_metrics = _EmfLine(
            self.metrics, {"InputDriftPSI": MetricUnit.NoUnit, "PredictionDriftPSI": MetricUnit.NoUnit}
        )
        self.s3_output_prefix = s3_output_prefix
        self.allow_nan = bool(model.manifest.get("allow_nan", False))
        self._output_names = [spec.name for spec in model.outputs]
        self._outputs_by_name = {spec.name: spec for spec in model.outputs}
        self._batchable = batching.batchable(model.inputs)
        # OIP's /versions/{v}: the model's own version (its sha256 prefix), or the published function version
        # that serves it (a gateway routes /v2/models/{name}/versions/{n}/... to function version n).
        function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "")
        self._versions = [model.version, *([function_version] if function_version.isdigit() else [])]
        self._metadata = codec.model_metadata(model.name, model.version, model.inputs, model.outputs)
        self._metadata["versions"] = list(self._versions)
        self._first_invocation = True
        self._s3: Any = None
        self.logger.info(
            "model loaded",
            extra={
                "model": model.name,
                "model_version": model.version,
                "load_ms": round(model.load_ms, 3),
                "threads": model.threads,
            },
        )
        self._drift = self._drift_monitor(model)

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

    # ------------------------------------------------------------------------------------------ events

    def handle(self, event: Any, context: Any = None) -> Any:
        """Answer one Lambda event of any supported shape (see the module docstring)."""
        started = time.perf_counter()
        tally = _Tally()
        kind = events.detect(event)
        self.logger.append_keys(request_id=getattr(context, "aws_request_id", None), event_type=kind.value)
        try:
            if kind in (events.EventKind.HTTP_V2, events.EventKind.HTTP_V1):
                return self._handle_http(event, kind, tally)
            if kind is events.EventKind.SQS:
                return self._handle_sqs(event, tally)
            if kind is events.EventKind.S3:
                return self._handle_s3(event, tally)
            return self._handle_direct(event, tally)
        finally:
            self._emit_metrics(tally, context)
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

    def _handle_direct(self, event: Any, tally: _Tally) -> dict[str, Any]:
        try:
            payload = codec.parse_json(event) if isinstance(event, str | bytes) else event
            response = self.predict(payload, tally)
        except RequestError as err:
            self._log_rejection(err)
            tally.status = err.status
            return err.to_body()
        except Exception:
            tally.status = 500
            self.logger.exception("internal error")
            raise  # a direct invoke reports internal failures as a function error
        tally.status = 200
        return response

    def _handle_http(self, event: Mapping[str, Any], kind: events.EventKind, tally: _Tally) -> dict[str, Any]:
        try:
            request = events.http_request(event, kind)
            found = events.route(request.method, request.path)
            self._check_model(found)
            if found.action == "infer":
                if not request.body:
                    raise RequestError(
                        "request body is empty; POST a JSON inference request",
                        field="body",
                        expected='{"inputs": ...} or {"instances": [...]}',
                    )
                binary = request.headers.get(binary_tensors.HEADER)
                payload = (
                    codec.parse_json(request.body)
                    if binary is None
                    else binary_tensors.decode_request(request.body, binary)
                )
                body: Any = self.predict(payload, tally)
            else:
                body = self._get(found.action)
            response = events.http_response(200, body)
        except RequestError as err:
            self._log_rejection(err)
            response = events.http_response(err.status, err.to_body(), err.headers)
        except Exception:
            self.logger.exception("internal error")
            response = events.http_response(500, codec.error_body(500, INTERNAL_ERROR_MESSAGE))
        tally.status = response["statusCode"]
        return response

    def _handle_sqs(self, event: Mapping[str, Any], tally: _Tally) -> dict[str, Any]:
        messages = events.sqs_messages(event)
        payloads = [_parse_or_error(message.body) for message in messages]
        failures = []
        for message, result in zip(messages, self.predict_many(payloads, tally), strict=True):
            if isinstance(result, RequestError):
                failures.append({"itemIdentifier": message.message_id})
                self.logger.warning(
                    "sqs record failed", extra={"message_id": message.message_id, **result.to_body()}
                )
            else:
                self._log_prediction("sqs prediction", {"message_id": message.message_id}, result)
        tally.status = 200 if not failures else 207
        return {"batchItemFailures": failures}

    def _handle_s3(self, event: Mapping[str, Any], tally: _Tally) -> dict[str, list[str]]:
        summary: dict[str, list[str]] = {"written": [], "errors": [], "skipped": []}
        todo: list[tuple[events.S3Object, Any]] = []
        for obj in events.s3_objects(event):
            if obj.key.startswith(self.s3_output_prefix):
                summary["skipped"].append(obj.key)
                self.logger.info(
                    "s3 object skipped: it is under the output prefix",
                    extra={"bucket": obj.bucket, "key": obj.key, "prefix": self.s3_output_prefix},
                )
                continue
            todo.append((obj, self._read_s3_request(obj)))
        results = self.predict_many([payload for _, payload in todo], tally)
        for (obj, _), result in zip(todo, results, strict=True):
            failed = isinstance(result, RequestError)
            key = events.s3_output_key(obj.key, self.s3_output_prefix, error=failed)
            body = result.to_body() if isinstance(result, RequestError) else result
            try:
                self._s3_client().put_object(
                    Bucket=obj.bucket,
                    Key=key,
                    Body=codec.dumps(body).encode("utf-8"),
                    ContentType="application/json",
                )
            except Exception:
                self.logger.exception(
                    "could not write the s3 result", extra={"bucket": obj.bucket, "key": key}
                )
                summary["errors"].append(key)
                continue
            summary["errors" if failed else "written"].append(key)
            log = self.logger.warning if failed else self.logger.info
            log(
                "s3 result written",
                extra={"bucket": obj.bucket, "source_key": obj.key, "key": key, **(body if failed else {})},
            )
        tally.status = 200 if not summary["errors"] else 207
        return summary

    def _read_s3_request(self, obj: events.S3Object) -> Any:
        """The parsed JSON request in ``obj``, or the RequestError to record for it (never raises)."""
        try:
            response = self._s3_client().get_object(Bucket=obj.bucket, Key=obj.key)
            size = int(response.get("ContentLength") or 0)
            if size > codec.MAX_BODY_BYTES:
                response["Body"].close()
                return RequestError(
                    f"s3://{obj.bucket}/{obj.key} is {size} bytes; the limit is "
                    f"{codec.MAX_BODY_BYTES} bytes (6 MB)",
                    status=413,
                    field="body",
                    expected=f"at most {codec.MAX_BODY_BYTES} bytes",
                )
            return _parse_or_error(response["Body"].read())
        except Exception:
            self.logger.exception(
                "could not read the s3 object", extra={"bucket": obj.bucket, "key": obj.key}
            )
            return RequestError(INTERNAL_ERROR_MESSAGE, status=500)

    def _s3_client(self) -> Any:
        if self._s3 is None:
            import boto3  # only the S3 path pays boto3's import (~150 ms)

            self._s3 = boto3.client("s3")
        return self._s3

    # ------------------------------------------------------------------------------------------ inference

    def predict(self, payload: Any, tally: _Tally | None = None) -> dict[str, Any]:
        """One request object → its response object. Raises RequestError for anything the client must fix."""
        request = codec.decode_request(payload, self.model.inputs, self.model.outputs, self.allow_nan)
        return self._answer(request, tally if tally is not None else _Tally())

    def _answer(self, request: InferenceRequest, tally: _Tally) -> dict[str, Any]:
        """Run one decoded request and encode its response; raises RequestError for client mistakes."""
        specs, values = self._run(request.feeds, request.output_names, tally)
        response = codec.encode_response(request, specs, values, self.model.name, self.model.version)
        tally.rows += request.rows
        return response

    def predict_many(self, payloads: Sequence[Any], tally: _Tally | None = None) -> list[Any]:
        """Several requests, batched into one session.run where shapes allow. Each result is the response
        object or a RequestError (payloads may already be RequestErrors: they are passed through)."""
        tally = tally if tally is not None else _Tally()
        results: list[Any] = list(payloads)
        groups: dict[Any, list[tuple[int, InferenceRequest]]] = {}
        for index, payload in enumerate(payloads):
            if isinstance(payload, RequestError):
                continue
            try:
                request = codec.decode_request(payload, self.model.inputs, self.model.outputs, self.allow_nan)
            except RequestError as err:
                results[index] = err
                continue
            key = batching.batch_key(request) if self._batchable else None
            groups.setdefault(key if key is not None else ("single", index), []).append((index, request))
        for group in groups.values():
            answered = self._run_batched(group, tally) if len(group) > 1 else None
            for (index, request), response in zip(group, answered or [None] * len(group), strict=True):
                results[index] = response if response is not None else self._answer_one(request, tally)
        return results

    def _run_batched(self, group: Sequence[tuple[int, InferenceRequest]], tally: _Tally) -> list[Any] | None:
        """Answers for ``group`` from one concatenated run; None to fall back to one run per request."""
        requests = [request for _, request in group]
        feeds = batching.concat_feeds(requests)
        try:
            specs, values = self._run(feeds, requests[0].output_names, tally, observe=False)
        except RequestError as err:
            self.logger.info(
                "batched run rejected; running records one by one", extra={"reason": err.message}
            )
            return None
        except Exception:
            self.logger.exception("batched run failed; running records one by one")
            return None
        parts = batching.split_rows(values, [request.rows for request in requests])
        if parts is None:
            self.logger.info("outputs do not follow the batch dim; running records one by one")
            return None
        self._observe_drift(feeds, [spec.name for spec in specs], values)  # counted once the rows stand
        answers: list[Any] = []
        for request, part in zip(requests, parts, strict=True):
            try:
                answers.append(
                    codec.encode_response(request, specs, part, self.model.name, self.model.version)
                )
                tally.rows += request.rows
            except RequestError as err:
                answers.append(err)
        self.logger.info(
            "batched run", extra={"records": len(requests), "batch_size": sum(r.rows for r in requests)}
        )
        return answers

    def _answer_one(self, request: InferenceRequest, tally: _Tally) -> Any:
        """``_answer`` for one record of a batch: failures come back as a RequestError, never raised."""
        try:
            return self._answer(request, tally)
        except RequestError as err:
            return err
        except Exception:
            self.logger.exception("internal error")
            return RequestError(INTERNAL_ERROR_MESSAGE, status=500)

    def _run(
        self,
        feeds: Mapping[str, Any],
        output_names: Sequence[str] | None,
        tally: _Tally,
        observe: bool = True,
    ) -> tuple[list[TensorSpec], list[Any]]:
        names = list(output_names) if output_names else self._output_names
        started = time.perf_counter()
        try:
            values = self.model.session.run(names, dict(feeds))
        except Exception as exc:
            client_error = _ort_client_error(exc)
            if client_error is None:
                raise
            raise client_error from exc
        tally.run_ms += (time.perf_counter() - started) * 1000.0
        tally.runs += 1
        if observe and self._drift is not None:
            self._observe_drift(feeds, names, values)
        return [self._outputs_by_name[name] for name in names], values

    # ------------------------------------------------------------------------------------------ drift

    def _drift_monitor(self, model: LoadedModel) -> DriftMonitor | None:
        """The model layer's drift monitor, None without a baseline; a baseline that cannot be used is logged
        and leaves drift off (the model still serves)."""
        try:
            monitor = DriftMonitor.from_model_dir(model.path, model.manifest)
        except Exception:
            self.logger.exception("drift baseline unusable; drift monitoring is off")
            return None
        if monitor is not None:
            self.logger.info(
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
                self.logger.warning(
                    "the drift baseline was made from generated samples: its PSI says little; "
                    "push with --sample for a meaningful one"
                )
        return monitor

    def _observe_drift(self, feeds: Mapping[str, Any], names: Sequence[str], values: Sequence[Any]) -> None:
        """Count one run; print the window it closes. Never raises: the first failure turns drift off."""
        monitor = self._drift
        if monitor is None:
            return
        try:
            window = monitor.observe(feeds, names, values)
            if window is not None:
                if window.metric:
                    self._drift_metrics.emit(
                        {"InputDriftPSI": window.input_psi, "PredictionDriftPSI": window.prediction_psi}
                    )
                self.logger.info(
                    "drift window", extra={"model_version": self.model.version, **window.log_fields()}
                )
        except Exception:
            self._drift = None
            self.logger.exception("drift accounting failed; drift monitoring is off for this environment")

    # ------------------------------------------------------------------------------------------ helpers

    def _get(self, action: str) -> dict[str, Any]:
        if action == "live":
            return {"live": True}
        if action == "ready":
            return {"ready": True}
        if action == "model_ready":
            return {"name": self.model.name, "ready": True}
        if action == "server_metadata":
            return {"name": "sls-inference", "version": ort.__version__, "extensions": []}
        return self._metadata

    def _check_model(self, found: events.Route) -> None:
        if found.model is not None and found.model != self.model.name:
            raise RequestError(
                f"model '{found.model}' is not served here; this endpoint serves '{self.model.name}'",
                status=404,
                field="path",
                expected=self.model.name,
            )
        if found.version is not None and found.version not in self._versions:
            raise RequestError(
                f"model '{self.model.name}' has no version '{found.version}'; this endpoint serves "
                f"version {' or '.join(repr(v) for v in self._versions)}",
                status=404,
                field="path",
                expected=self._versions[-1],
            )

    def _emit_metrics(self, tally: _Tally, context: Any) -> None:
        if self._first_invocation:
            self._first_invocation = False
            if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency":
                self.metrics.add_cold_start_metric(context=context)  # prints its own EMF line
            self.metrics.add_metric(
                name="ModelLoadTime", unit=MetricUnit.Milliseconds, value=self.model.load_ms
            )
            if tally.runs:
                self.metrics.add_metric(
                    name="InferenceLatency", unit=MetricUnit.Milliseconds, value=tally.run_ms
                )
                self.metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=tally.rows)
            self.metrics.flush_metrics()
        elif tally.runs:
            self._invocation_metrics.emit({"InferenceLatency": tally.run_ms, "BatchSize": tally.rows})

    def _log_rejection(self, err: RequestError) -> None:
        self.logger.info("request rejected", extra=err.to_body())

    def _log_prediction(self, message: str, extra: dict[str, Any], response: Mapping[str, Any]) -> None:
        text = codec.dumps(response)
        if len(text) > LOG_PREDICTION_MAX_CHARS:
            self.logger.info(
                message,
                extra={
                    **extra,
                    "prediction_truncated": True,
                    "prediction_chars": len(text),
                    "prediction_head": text[:1024],
                },
            )
        else:
            self.logger.info(message, extra={**extra, "prediction": response})


class _EmfLine:
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


def _parse_or_error(body: bytes | str) -> Any:
    try:
        return codec.parse_json(body)
    except RequestError as err:
        return err


def _ort_client_error(exc: BaseException) -> RequestError | None:
    """The 400 for an onnxruntime failure caused by the input, or None for an internal failure."""
    text = str(exc)
    if not (isinstance(exc, InvalidArgument) or (_RUNNING_NODE in text and "alloc" not in text.lower())):
        return None
    detail = _ORT_SOURCE.sub("", _ORT_PREFIX.sub("", text)).strip()
    return RequestError(f"the model could not run on this input: {detail[:500]}", field="inputs")


_app: InferenceApp | None = None


def get_app() -> InferenceApp:
    """The module's InferenceApp, created from the environment on first use."""
    global _app
    if _app is None:
        _app = InferenceApp.from_env()
    return _app


def lambda_handler(event: Any, context: Any) -> Any:
    return get_app().handle(event, context)


if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    # Inside a Lambda runtime: load the model during init so a broken model layer fails the init loudly.
    get_app()
