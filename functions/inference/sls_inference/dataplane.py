"""The data plane: one loaded model behind every event source — decode a request, run the model, encode the
response — and the Open Inference Protocol's health and metadata answers.

Each event source (``sources``) turns its events into calls of ``DataPlane.predict`` (one request) or
``predict_many`` (a batch: one concatenated ``session.run`` where the model's shapes allow, see
``batching``, one run per request otherwise) and of ``get``/``check_model`` for the OIP's GET routes.
What an invocation did is counted in a ``Tally`` (its metrics and summary log line). onnxruntime failures
caused by the input are client errors (RequestError 400); every other failure is raised. Every run is
observed by the drift watch. Side effects: log lines (powertools Logger).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort
from aws_lambda_powertools.logging import Logger
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from . import batching, codec
from .codec import INTERNAL_ERROR_MESSAGE, InferenceRequest, RequestError
from .drift_watch import DriftWatch
from .loader import LoadedModel
from .processing import HookError, Processor, RawBody
from .signature import TensorSpec

# onnxruntime reports kernel failures caused by the input (an index out of range, shapes that do not broadcast)
# as "Non-zero status code returned while running <Op> node"; those are the client's, allocation failures not.
_RUNNING_NODE = "Non-zero status code returned while running"
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")
_ORT_SOURCE = re.compile(r"/onnxruntime_src/\S+ ")


@dataclass
class Tally:
    """What one invocation did, for its metrics and summary log line."""

    rows: int = 0
    runs: int = 0
    run_ms: float = 0.0
    status: int | None = None


class DataPlane:
    """Inference on one LoadedModel. Not shared between threads (one invocation at a time)."""

    def __init__(self, model: LoadedModel, logger: Logger, drift: DriftWatch) -> None:
        self.model = model
        self.logger = logger
        self.allow_nan = bool(model.manifest.get("allow_nan", False))
        self._drift = drift
        self.processor = Processor.for_model(model)  # None: the model takes tensors as they are
        self._output_names = [spec.name for spec in model.outputs]
        self._outputs_by_name = {spec.name: spec for spec in model.outputs}
        self._batchable = batching.batchable(model.inputs)
        # OIP's /versions/{v}: the model's own version (its sha256 prefix), or the published function version
        # that serves it (a gateway routes /v2/models/{name}/versions/{n}/... to function version n).
        function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "")
        self._versions = [model.version, *([function_version] if function_version.isdigit() else [])]
        self._metadata = codec.model_metadata(model.name, model.version, model.inputs, model.outputs)
        self._metadata["versions"] = list(self._versions)

    # ------------------------------------------------------------------------------------------ inference

    def predict(self, payload: Any, tally: Tally | None = None) -> dict[str, Any]:
        """One request object → its response object. Raises RequestError for anything the client must fix."""
        tally = tally if tally is not None else Tally()
        if self.processor is not None:
            return self._answer_processed(self.processor, payload, tally)
        return self._answer(self._decode(payload), tally)

    def predict_many(self, payloads: Sequence[Any], tally: Tally | None = None) -> list[Any]:
        """Several requests, batched into one session.run where shapes allow. Each result is the response
        object or a RequestError (payloads may already be RequestErrors: they are passed through)."""
        tally = tally if tally is not None else Tally()
        results: list[Any] = list(payloads)
        if self.processor is not None:  # processed requests run one by one
            return [p if isinstance(p, RequestError) else self._answer_one(p, tally) for p in payloads]
        decoded: list[tuple[int, InferenceRequest]] = []
        for index, payload in enumerate(payloads):
            if isinstance(payload, RequestError):
                continue
            try:
                decoded.append((index, self._decode(payload)))
            except RequestError as err:
                results[index] = err
        for group in batching.group(decoded, self._batchable):
            answered = self._run_batched(group, tally) if len(group) > 1 else None
            for (index, request), response in zip(group, answered or [None] * len(group), strict=True):
                results[index] = response if response is not None else self._answer_one(request, tally)
        return results

    def _decode(self, payload: Any) -> InferenceRequest:
        if isinstance(payload, RawBody):
            raise RequestError(
                f"a {payload.content_type or 'non-JSON'} body is not taken here: this model takes JSON tensors",
                status=415,
                field="content-type",
                expected="application/json",
            )
        if (
            isinstance(payload, dict)
            and ({"text", "image"} & set(payload))
            and not ({"inputs", "instances"} & set(payload))
        ):
            kind = "text" if "text" in payload else "image"
            raise RequestError(
                f"this model takes tensors, not {kind}: it was pushed without "
                f"{'--tokenizer' if kind == 'text' else 'an image spec (--image-size)'}",
                field=kind,
                expected='{"inputs": [...]} or {"instances": [...]}',
            )
        return codec.decode_request(payload, self.model.inputs, self.model.outputs, self.allow_nan)

    def _answer_processed(self, processor: Processor, payload: Any, tally: Tally) -> Any:
        """Pre-process, run and post-process one request; a failing custom hook is a logged 500."""
        try:
            request = processor.decode(payload, self._decode)
            specs, values = self._run(request.feeds, request.output_names, tally)
            response = processor.encode(request, specs, values, payload, self.model.name, self.model.version)
        except HookError:
            self.logger.exception("custom handler failed")
            raise RequestError(INTERNAL_ERROR_MESSAGE, status=500) from None
        tally.rows += request.rows
        return response

    def _answer(self, request: InferenceRequest, tally: Tally) -> dict[str, Any]:
        """Run one decoded request and encode its response; raises RequestError for client mistakes."""
        specs, values = self._run(request.feeds, request.output_names, tally)
        response = codec.encode_response(request, specs, values, self.model.name, self.model.version)
        tally.rows += request.rows
        return response

    def _run_batched(self, group: Sequence[tuple[int, InferenceRequest]], tally: Tally) -> list[Any] | None:
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
        self._drift.observe(feeds, [spec.name for spec in specs], values)  # counted once the rows stand
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

    def _answer_one(self, request: Any, tally: Tally) -> Any:
        """``_answer`` for one record of a batch (a decoded request, or with processing the payload):
        failures come back as a RequestError, never raised."""
        try:
            if self.processor is not None:
                return self._answer_processed(self.processor, request, tally)
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
        tally: Tally,
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
        if observe and self._drift.active:
            self._drift.observe(feeds, names, values)
        return [self._outputs_by_name[name] for name in names], values

    # ------------------------------------------------------------------------------------------ health, metadata

    def get(self, action: str) -> dict[str, Any]:
        """The body of a GET route's ``action``: liveness, readiness, server or model metadata."""
        if action == "live":
            return {"live": True}
        if action == "ready":
            return {"ready": True}
        if action == "model_ready":
            return {"name": self.model.name, "ready": True}
        if action == "server_metadata":
            return {"name": "sls-inference", "version": ort.__version__, "extensions": []}
        return self._metadata

    def check_model(self, model: str | None, version: str | None) -> None:
        """A 404 (RequestError) when a route names a model or version this function does not serve."""
        if model is not None and model != self.model.name:
            raise RequestError(
                f"model '{model}' is not served here; this endpoint serves '{self.model.name}'",
                status=404,
                field="path",
                expected=self.model.name,
            )
        if version is not None and version not in self._versions:
            raise RequestError(
                f"model '{self.model.name}' has no version '{version}'; this endpoint serves "
                f"version {' or '.join(repr(v) for v in self._versions)}",
                status=404,
                field="path",
                expected=self._versions[-1],
            )


def _ort_client_error(exc: BaseException) -> RequestError | None:
    """The 400 for an onnxruntime failure caused by the input, or None for an internal failure."""
    text = str(exc)
    if not (isinstance(exc, InvalidArgument) or (_RUNNING_NODE in text and "alloc" not in text.lower())):
        return None
    detail = _ORT_SOURCE.sub("", _ORT_PREFIX.sub("", text)).strip()
    return RequestError(f"the model could not run on this input: {detail[:500]}", field="inputs")
