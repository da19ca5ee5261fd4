"""Request decoding and response encoding for the inference handler: JSON payload ↔ numpy feeds. Pure, no I/O.

Accepted request formats (detected from the payload's keys):

- Open Inference Protocol v2 (KServe/Triton): ``{"id"?, "inputs": [{"name", "shape", "datatype", "data"}],
  "outputs"?: [{"name"}]}`` → ``{"model_name", "model_version", "id"?, "outputs": [{"name", "shape",
  "datatype", "data"}]}`` with ``data`` flat (row-major). Request ``data`` may be flat or nested; it must hold
  exactly ``shape``'s elements, and ``datatype`` must be the model input's datatype (FP32 for float32 ...).
- TF-Serving row format: ``{"instances": [...]}`` → ``{"predictions": [...]}``. An instance is one row of the
  single input, or a ``{input name: row}`` object. With one output, predictions are that output's rows;
  with several, each prediction is a ``{output name: row}`` object.
- TF-Serving columnar format: ``{"inputs": {name: nested list}}`` → ``{"outputs": {name: nested list}}``;
  for single-input models ``{"inputs": nested list}`` also works and answers ``{"outputs": nested list}``
  when the model has one output (TF-Serving's rule), ``{"outputs": {name: ...}}`` otherwise.

Values: JSON numbers are accepted for float inputs (ints too), only integers for int inputs (range-checked),
only true/false for BOOL and only strings for BYTES (string) inputs. NaN/Infinity in float inputs (Python's
json parses the ``NaN`` token) are rejected unless the model's manifest sets ``"allow_nan": true``.
Non-finite output floats are encoded as JSON ``null`` so that every response is valid JSON. Non-tensor outputs
(e.g. scikit-learn ZipMap's sequence of maps) are encoded as lists of objects with string keys; in OIP
responses their ``datatype`` is the model signature's type string (e.g. ``SEQ(MAP(INT64,TENSOR(FLOAT)))``).

Errors: every client mistake raises ``RequestError`` (status 400, or 413 for bodies over ``MAX_BODY_BYTES``)
whose message names the field and what was expected. Its JSON form is the one error body of the handler:
``{"error": {"status", "message", "field"?, "expected"?}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .signature import DTYPE_TO_OIP, TensorSpec

# Lambda's synchronous request/response payload limit; mirrors sls_deploy.core.limits.MAX_SYNC_PAYLOAD_BYTES
# (the handler never imports sls_deploy).
MAX_BODY_BYTES = 6 * 1024 * 1024

_OIP_BY_DTYPE = {np.dtype(name): oip for name, oip in DTYPE_TO_OIP.items() if name != "string"}
_NUMERIC_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}
_KIND_WORDS = {
    "f": "numbers",
    "i": "integers",
    "u": "non-negative integers",
    "b": "true/false values",
    "U": "strings",
}


class RequestError(Exception):
    """A request the handler cannot serve; ``status`` 4xx for client mistakes, 500 for internal failures."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        field: str | None = None,
        expected: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.expected = expected
        self.headers = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.field, self.expected)


def error_body(status: int, message: str, field: str | None = None, expected: Any = None) -> dict[str, Any]:
    """The handler's one error schema (HTTP bodies, direct-invoke payloads, S3 error objects, logs)."""
    error: dict[str, Any] = {"status": status, "message": message}
    if field is not None:
        error["field"] = field
    if expected is not None:
        error["expected"] = expected
    return {"error": error}


@dataclass(frozen=True)
class InferenceRequest:
    """A decoded request: feeds ready for ``session.run`` plus what the response needs."""

    style: str  # "oip" | "instances" | "columnar" | "columnar_list"
    feeds: Mapping[str, np.ndarray]
    output_names: tuple[str, ...] | None  # OIP "outputs" selection; None: all outputs
    rows: int  # size of the first dim of the first input (1 for scalars)
    id: str | None = None


# ---------------------------------------------------------------------------------------------- JSON text


def parse_json(body: bytes | str) -> Any:
    """Parse a request body; raises RequestError 413 above MAX_BODY_BYTES and 400 for anything but JSON."""
    if body_size(body) > MAX_BODY_BYTES:
        raise RequestError(
            f"request body is {body_size(body)} bytes; the limit is {MAX_BODY_BYTES} bytes (6 MB)",
            status=413,
            field="body",
            expected=f"at most {MAX_BODY_BYTES} bytes",
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RequestError(
            f"request body is not valid JSON: {exc}", field="body", expected="a JSON object"
        ) from exc


def body_size(body: bytes | str) -> int:
    """Size in bytes of ``body`` as UTF-8 (cheap for short str bodies: a char is at most 4 bytes)."""
    if isinstance(body, bytes | bytearray):
        return len(body)
    if len(body) * 4 <= MAX_BODY_BYTES:
        return len(body)  # exact size does not matter below the limit
    return len(body.encode("utf-8", "surrogatepass"))


def dumps(payload: Any) -> str:
    """Compact JSON; refuses NaN/Infinity so a response can never be invalid JSON (encode them first)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


# ---------------------------------------------------------------------------------------------- decoding


def decode_request(
    payload: Any, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], allow_nan: bool = False
) -> InferenceRequest:
    """Validate ``payload`` against the model signature and build the feeds. Raises RequestError (400)."""
    if not isinstance(payload, dict):
        raise RequestError(
            f"request must be a JSON object, got {_json_type(payload)}",
            field="body",
            expected='{"inputs": ...} or {"instances": [...]}',
        )
    if "instances" in payload:
        return _decode_instances(payload["instances"], inputs, allow_nan)
    if "inputs" not in payload:
        raise RequestError(
            "request has neither 'inputs' (Open Inference Protocol or TF-Serving columnar) nor "
            "'instances' (TF-Serving rows)",
            field="inputs",
            expected='{"inputs": [{"name", "shape", "datatype", "data"}]} or {"instances": [...]}',
        )
    raw = payload["inputs"]
    if isinstance(raw, list) and raw and all(isinstance(item, dict) for item in raw):
        return _decode_oip(payload, inputs, outputs, allow_nan)
    if isinstance(raw, list) and not raw:
        _check_names([], inputs, "inputs")  # an empty OIP input list: names what is missing
    if isinstance(raw, dict):
        _check_names(list(raw), inputs, "inputs")
        feeds = {
            spec.name: to_array(raw[spec.name], spec, f"inputs.{spec.name}", allow_nan) for spec in inputs
        }
        return _finish("columnar", feeds, inputs, None, None)
    if len(inputs) != 1:
        raise RequestError(
            f"'inputs' must be an object naming each of the model's {len(inputs)} inputs",
            field="inputs",
            expected={spec.name: spec.shape_text() for spec in inputs},
        )
    spec = inputs[0]
    return _finish("columnar_list", {spec.name: to_array(raw, spec, "inputs", allow_nan)}, inputs, None, None)


def _decode_oip(
    payload: Mapping[str, Any], inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], allow_nan: bool
) -> InferenceRequest:
    by_name = {spec.name: spec for spec in inputs}
    feeds: dict[str, np.ndarray] = {}
    for index, item in enumerate(payload["inputs"]):
        where = f"inputs[{index}]"
        name = item.get("name")
        if not isinstance(name, str):
            raise RequestError(f"{where} has no 'name'", field=f"{where}.name", expected=sorted(by_name))
        if name not in by_name:
            raise RequestError(
                f"unknown input '{name}'; the model's inputs are {_names(inputs)}",
                field=f"{where}.name",
                expected=sorted(by_name),
            )
        if name in feeds:
            raise RequestError(f"input '{name}' is given twice", field=f"{where}.name")
        spec = by_name[name]
        datatype = item.get("datatype")
        if datatype != spec.oip_datatype:
            raise RequestError(
                f"input '{name}' has datatype {datatype!r} but the model expects {spec.oip_datatype}",
                field=f"{where}.datatype",
                expected=spec.oip_datatype,
            )
        shape = item.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise RequestError(
                f"input '{name}' needs 'shape' as a list of non-negative integers, got {shape!r}",
                field=f"{where}.shape",
                expected=spec.shape_text(),
            )
        if "data" not in item:
            raise RequestError(
                f"input '{name}' has no 'data'",
                field=f"{where}.data",
                expected=f"{math.prod(shape)} values of {spec.oip_datatype}",
            )
        array = to_array(item["data"], spec, f"{where}.data", allow_nan, check_shape=False)
        if array.ndim > 1 and list(array.shape) != shape:
            raise RequestError(
                f"input '{name}': nested data has shape {list(array.shape)} but 'shape' is {shape}",
                field=f"{where}.data",
                expected=shape,
            )
        if array.size != math.prod(shape):
            raise RequestError(
                f"input '{name}': data has {array.size} values but shape {shape} needs {math.prod(shape)}",
                field=f"{where}.data",
                expected=math.prod(shape),
            )
        array = array.reshape(shape)
        check_shape_of(array.shape, spec, f"{where}.shape")
        feeds[name] = array
    _check_names(list(feeds), inputs, "inputs")
    output_names = _decode_output_selection(payload.get("outputs"), outputs)
    request_id = payload.get("id")
    return _finish("oip", feeds, inputs, output_names, None if request_id is None else str(request_id))


def _decode_output_selection(raw: Any, outputs: Sequence[TensorSpec]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    known = [spec.name for spec in outputs]
    if not isinstance(raw, list):
        raise RequestError(
            "'outputs' must be a list of {\"name\": ...} objects", field="outputs", expected=known
        )
    names: list[str] = []
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if name not in known:
            raise RequestError(
                f"unknown output {name!r}; the model's outputs are {', '.join(known)}",
                field=f"outputs[{index}].name",
                expected=known,
            )
        if name not in names:
            names.append(name)
    return tuple(names) or None


def _decode_instances(instances: Any, inputs: Sequence[TensorSpec], allow_nan: bool) -> InferenceRequest:
    if not isinstance(instances, list):
        raise RequestError(
            f"'instances' must be a list of rows, got {_json_type(instances)}",
            field="instances",
            expected="a list",
        )
    if instances and all(isinstance(row, dict) for row in instances):
        for index, row in enumerate(instances):
            _check_names(list(row), inputs, f"instances[{index}]")
        feeds = {
            spec.name: to_array(
                [row[spec.name] for row in instances], spec, f"instances[*].{spec.name}", allow_nan
            )
            for spec in inputs
        }
        return _finish("instances", feeds, inputs, None, None)
    if any(isinstance(row, dict) for row in instances):
        raise RequestError(
            "'instances' mixes objects and plain rows",
            field="instances",
            expected="all rows, or all {input name: row} objects",
        )
    if len(inputs) != 1:
        raise RequestError(
            f"the model has {len(inputs)} inputs: each instance must be an object naming them",
            field="instances",
            expected={spec.name: spec.shape_text() for spec in inputs},
        )
    spec = inputs[0]
    return _finish(
        "instances", {spec.name: to_array(instances, spec, "instances", allow_nan)}, inputs, None, None
    )


def _finish(
    style: str,
    feeds: dict[str, np.ndarray],
    inputs: Sequence[TensorSpec],
    output_names: tuple[str, ...] | None,
    request_id: str | None,
) -> InferenceRequest:
    check_symbolic_dims(feeds, inputs)
    first = feeds[inputs[0].name] if inputs else None
    rows = int(first.shape[0]) if first is not None and first.ndim else 1
    return InferenceRequest(style=style, feeds=feeds, output_names=output_names, rows=rows, id=request_id)


def _check_names(given: Sequence[str], inputs: Sequence[TensorSpec], field: str) -> None:
    known = [spec.name for spec in inputs]
    unknown = [name for name in given if name not in known]
    if unknown:
        raise RequestError(
            f"unknown input '{unknown[0]}'; the model's inputs are {_names(inputs)}",
            field=f"{field}.{unknown[0]}",
            expected=known,
        )
    missing = [name for name in known if name not in given]
    if missing:
        raise RequestError(
            f"missing input '{missing[0]}'; the model needs {_names(inputs)}",
            field=f"{field}.{missing[0]}",
            expected=known,
        )


def to_array(
    value: Any, spec: TensorSpec, field: str, allow_nan: bool = False, check_shape: bool = True
) -> np.ndarray:
    """JSON value → numpy array of ``spec``'s dtype; checks kinds, ranges, NaN and (optionally) the shape."""
    target = spec.dtype
    if target not in DTYPE_TO_OIP:
        raise RequestError(
            f"input '{spec.name}' has type {target}, which this handler cannot build from JSON",
            field=field,
            expected="a tensor input",
        )
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise RequestError(
            f"input '{spec.name}': nested lists are ragged (rows of different lengths)",
            field=field,
            expected=spec.shape_text(),
        ) from exc
    kind = array.dtype.kind
    if target == "string":
        if kind != "U" and array.size:
            raise RequestError(
                f"input '{spec.name}' expects strings (BYTES), got {_kind_text(array)}",
                field=field,
                expected="BYTES",
            )
        array = array.astype(object)
    else:
        dtype = np.dtype(target)
        if array.size and kind not in _NUMERIC_KINDS[dtype.kind]:
            raise RequestError(
                f"input '{spec.name}' expects {_KIND_WORDS[dtype.kind]} ({spec.oip_datatype}), got "
                f"{_kind_text(array)}",
                field=field,
                expected=spec.oip_datatype,
            )
        if dtype.kind in "iu" and array.size and not np.can_cast(array.dtype, dtype):
            info = np.iinfo(dtype)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                raise RequestError(
                    f"input '{spec.name}' has values out of range for {spec.oip_datatype} "
                    f"[{info.min}, {info.max}]: {low if low < info.min else high}",
                    field=field,
                    expected=f"{spec.oip_datatype} in [{info.min}, {info.max}]",
                )
        with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported just below
            array = array.astype(dtype, copy=False)
        if dtype.kind == "f" and not allow_nan and array.size and not np.isfinite(array).all():
            raise RequestError(
                f"input '{spec.name}' contains NaN or Infinity (or a value too large for "
                f"{spec.oip_datatype}); this model does not accept non-finite values",
                field=field,
                expected=f"finite {spec.oip_datatype} numbers",
            )
    if check_shape:
        check_shape_of(array.shape, spec, field)
    return array


def check_shape_of(shape: Sequence[int], spec: TensorSpec, field: str) -> None:
    """Rank and fixed dims of ``shape`` against ``spec``; symbolic dims accept any size."""
    if spec.shape is None or spec.accepts_shape(shape):
        return
    got = "[" + ", ".join(str(d) for d in shape) + "]"
    if len(shape) != len(spec.shape):
        raise RequestError(
            f"input '{spec.name}' has shape {got} (rank {len(shape)}) but the model expects rank "
            f"{len(spec.shape)}: {spec.shape_text()}",
            field=field,
            expected=spec.shape_text(),
        )
    axis = next(
        i
        for i, (want, have) in enumerate(zip(spec.shape, shape, strict=True))
        if isinstance(want, int) and want != have
    )
    raise RequestError(
        f"input '{spec.name}' has shape {got} but the model expects {spec.shape_text()} "
        f"(dim {axis} must be {spec.shape[axis]})",
        field=field,
        expected=spec.shape_text(),
    )


def check_symbolic_dims(feeds: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec]) -> None:
    """Inputs sharing a named symbolic dim (e.g. "batch") must agree on its size."""
    seen: dict[str, tuple[str, int]] = {}
    for spec in inputs:
        if spec.shape is None or spec.name not in feeds:
            continue
        for want, have in zip(spec.shape, feeds[spec.name].shape, strict=False):
            if not isinstance(want, str) or not want:
                continue
            if want in seen and seen[want][1] != have:
                other, size = seen[want]
                raise RequestError(
                    f"inputs '{other}' and '{spec.name}' share dim '{want}' but have sizes {size} and {have}",
                    field=f"inputs.{spec.name}",
                    expected=f"{want} = {size}",
                )
            seen.setdefault(want, (spec.name, int(have)))


# ---------------------------------------------------------------------------------------------- encoding


def encode_response(
    request: InferenceRequest,
    outputs: Sequence[TensorSpec],
    values: Sequence[Any],
    model_name: str,
    model_version: str,
) -> dict[str, Any]:
    """session.run results (in the order of ``outputs``) → the response body of ``request.style``."""
    if request.style == "oip":
        body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
        if request.id is not None:
            body["id"] = request.id
        body["outputs"] = [oip_tensor(spec, value) for spec, value in zip(outputs, values, strict=True)]
        return body
    encoded = [to_json_value(value) for value in values]
    if request.style == "instances":
        if len(outputs) == 1:
            return {"predictions": encoded[0]}
        lengths = {len(value) if isinstance(value, list) else -1 for value in encoded}
        if lengths != {request.rows}:
            raise RequestError(
                "the model's outputs do not share the instances' batch dim, so they cannot be "
                "split into predictions; send the columnar format instead",
                field="instances",
                expected='{"inputs": {name: value}}',
            )
        names = [spec.name for spec in outputs]
        return {"predictions": [dict(zip(names, row, strict=True)) for row in zip(*encoded, strict=True)]}
    if request.style == "columnar_list" and len(outputs) == 1:
        return {"outputs": encoded[0]}
    return {"outputs": {spec.name: value for spec, value in zip(outputs, encoded, strict=True)}}


def oip_tensor(spec: TensorSpec, value: Any) -> dict[str, Any]:
    """`value` (an array, or an ORT sequence/map) as an Open Inference Protocol tensor named after `spec`:
    {"name", "shape", "datatype", "data"} — the form of an OIP response's outputs and a request's inputs."""
    if isinstance(value, np.ndarray):
        datatype = "BYTES" if value.dtype.kind in "OUS" else _OIP_BY_DTYPE.get(value.dtype, spec.oip_datatype)
        return {
            "name": spec.name,
            "shape": list(value.shape),
            "datatype": datatype,
            "data": to_json_value(value.reshape(-1)),
        }
    data = to_json_value(value)
    shape = [len(data)] if isinstance(data, list) else []
    return {
        "name": spec.name,
        "shape": shape,
        "datatype": spec.oip_datatype,
        "data": data if isinstance(data, list) else [data],
    }


def to_json_value(value: Any) -> Any:
    """numpy arrays / ORT sequences and maps → plain JSON values; non-finite floats become None (null)."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind == "f":
            finite = np.isfinite(value)
            if not finite.all():
                cleaned = value.astype(object)
                cleaned[~finite] = None
                return cleaned.tolist()
            return value.tolist()
        if kind in "OS":
            return to_json_value(value.tolist())
        return value.tolist()
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def model_metadata(
    name: str, version: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]
) -> dict[str, Any]:
    """OIP model metadata (``GET /v2/models/{name}``); dynamic dims are -1 as the protocol asks."""

    def tensor(spec: TensorSpec) -> dict[str, Any]:
        shape = [] if spec.shape is None else [d if isinstance(d, int) else -1 for d in spec.shape]
        return {"name": spec.name, "datatype": spec.oip_datatype, "shape": shape}

    return {
        "name": name,
        "versions": [version],
        "platform": "onnxruntime",
        "inputs": [tensor(spec) for spec in inputs],
        "outputs": [tensor(spec) for spec in outputs],
    }


# ---------------------------------------------------------------------------------------------- batching


def batchable(inputs: Sequence[TensorSpec]) -> bool:
    """Requests can be concatenated along axis 0 when every input's first dim is symbolic."""
    return bool(inputs) and all(spec.shape and not isinstance(spec.shape[0], int) for spec in inputs)


def batch_key(request: InferenceRequest) -> tuple[Any, ...] | None:
    """Requests with equal keys concatenate along axis 0; None when the request's inputs disagree on rows."""
    parts: list[Any] = [request.output_names]
    for name in sorted(request.feeds):
        array = request.feeds[name]
        if array.ndim == 0 or array.shape[0] != request.rows:
            return None
        parts.append((name, array.dtype.str, array.shape[1:]))
    return tuple(parts)


def concat_feeds(requests: Sequence[InferenceRequest]) -> dict[str, np.ndarray]:
    names = requests[0].feeds.keys()
    return {name: np.concatenate([request.feeds[name] for request in requests], axis=0) for name in names}


def split_rows(values: Sequence[Any], rows: Sequence[int]) -> list[list[Any]] | None:
    """Split batched outputs back per request; None when an output's first dim is not the total rows."""
    total = sum(rows)
    for value in values:
        if isinstance(value, np.ndarray):
            if value.ndim == 0 or value.shape[0] != total:
                return None
        elif not isinstance(value, list) or len(value) != total:
            return None
    parts: list[list[Any]] = []
    start = 0
    for count in rows:
        parts.append([value[start : start + count] for value in values])
        start += count
    return parts


def _names(inputs: Sequence[TensorSpec]) -> str:
    return ", ".join(f"{spec.name} {spec.oip_datatype} {spec.shape_text()}" for spec in inputs)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _kind_text(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind == "O":
        return "null, objects or mixed values"
    if kind == "f":
        return "NaN values" if np.isnan(array).any() else "non-integer numbers"
    return {"i": "integers", "u": "integers", "b": "true/false values", "U": "strings"}.get(
        kind, str(array.dtype)
    )
