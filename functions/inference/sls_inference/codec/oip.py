"""The Open Inference Protocol v2 (KServe/Triton) in JSON: requests, responses and model metadata.

Request ``{"id"?, "inputs": [{"name", "shape", "datatype", "data"}], "outputs"?: [{"name"}]}`` → response
``{"model_name", "model_version", "id"?, "outputs": [{"name", "shape", "datatype", "data"}]}`` with ``data``
flat (row-major). Request ``data`` may be flat or nested; it must hold exactly ``shape``'s elements, and
``datatype`` must be the model input's datatype (FP32 for float32 ...). Non-tensor outputs are answered with
the model signature's type string as their ``datatype`` (e.g. ``SEQ(MAP(INT64,TENSOR(FLOAT)))``).
Pure, no I/O; client mistakes raise RequestError (400).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..signature import DTYPE_TO_OIP, TensorSpec
from .errors import RequestError
from .tensors import (
    InferenceRequest,
    check_names,
    check_shape_of,
    finish_request,
    signature_text,
    to_array,
    to_json_value,
)

_OIP_BY_DTYPE = {np.dtype(name): oip for name, oip in DTYPE_TO_OIP.items() if name != "string"}


def is_oip_inputs(raw: Any) -> bool:
    """Whether a request's ``inputs`` is an OIP tensor list (a non-empty list of objects)."""
    return isinstance(raw, list) and bool(raw) and all(isinstance(item, dict) for item in raw)


def decode(
    payload: Mapping[str, Any], inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], allow_nan: bool
) -> InferenceRequest:
    """An OIP request (``payload["inputs"]`` is a tensor list) → its feeds and output selection."""
    by_name = {spec.name: spec for spec in inputs}
    feeds: dict[str, np.ndarray] = {}
    for index, item in enumerate(payload["inputs"]):
        where = f"inputs[{index}]"
        name = item.get("name")
        if not isinstance(name, str):
            raise RequestError(f"{where} has no 'name'", field=f"{where}.name", expected=sorted(by_name))
        if name not in by_name:
            raise RequestError(
                f"unknown input '{name}'; the model's inputs are {signature_text(inputs)}",
                field=f"{where}.name",
                expected=sorted(by_name),
            )
        if name in feeds:
            raise RequestError(f"input '{name}' is given twice", field=f"{where}.name")
        feeds[name] = _decode_tensor(item, by_name[name], where, allow_nan)
    check_names(list(feeds), inputs, "inputs")
    output_names = _decode_output_selection(payload.get("outputs"), outputs)
    request_id = payload.get("id")
    return finish_request("oip", feeds, inputs, output_names, None if request_id is None else str(request_id))


def _decode_tensor(item: Mapping[str, Any], spec: TensorSpec, where: str, allow_nan: bool) -> np.ndarray:
    """One OIP input tensor: its datatype, shape and data checked against ``spec``."""
    name = spec.name
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
    return array


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


def encode(
    request: InferenceRequest,
    outputs: Sequence[TensorSpec],
    values: Sequence[Any],
    model_name: str,
    model_version: str,
) -> dict[str, Any]:
    """The OIP response to ``request``: session.run results (in the order of ``outputs``) as tensors."""
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        body["id"] = request.id
    body["outputs"] = [oip_tensor(spec, value) for spec, value in zip(outputs, values, strict=True)]
    return body


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
