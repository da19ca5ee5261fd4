"""TensorFlow Serving's REST formats: rows (``instances``) and columns (``inputs`` by name).

- Row format: ``{"instances": [...]}`` → ``{"predictions": [...]}``. An instance is one row of the single
  input, or a ``{input name: row}`` object. With one output, predictions are that output's rows; with several,
  each prediction is a ``{output name: row}`` object.
- Columnar format: ``{"inputs": {name: nested list}}`` → ``{"outputs": {name: nested list}}``; for
  single-input models ``{"inputs": nested list}`` also works and answers ``{"outputs": nested list}`` when the
  model has one output (TF-Serving's rule), ``{"outputs": {name: ...}}`` otherwise.

Pure, no I/O; client mistakes raise RequestError (400).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..signature import TensorSpec
from .errors import RequestError
from .tensors import InferenceRequest, check_names, finish_request, json_type, to_array, to_json_value


def decode_instances(instances: Any, inputs: Sequence[TensorSpec], allow_nan: bool) -> InferenceRequest:
    """A row-format request's ``instances`` → feeds (style "instances")."""
    if not isinstance(instances, list):
        raise RequestError(
            f"'instances' must be a list of rows, got {json_type(instances)}",
            field="instances",
            expected="a list",
        )
    if instances and all(isinstance(row, dict) for row in instances):
        for index, row in enumerate(instances):
            check_names(list(row), inputs, f"instances[{index}]")
        feeds = {
            spec.name: to_array(
                [row[spec.name] for row in instances], spec, f"instances[*].{spec.name}", allow_nan
            )
            for spec in inputs
        }
        return finish_request("instances", feeds, inputs, None, None)
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
    return finish_request(
        "instances", {spec.name: to_array(instances, spec, "instances", allow_nan)}, inputs, None, None
    )


def decode_columnar(raw: Any, inputs: Sequence[TensorSpec], allow_nan: bool) -> InferenceRequest:
    """A columnar request's ``inputs`` (an object by input name, or one nested list) → feeds (style
    "columnar" or "columnar_list")."""
    if isinstance(raw, list) and not raw:
        check_names([], inputs, "inputs")  # an empty OIP input list: names what is missing
    if isinstance(raw, dict):
        check_names(list(raw), inputs, "inputs")
        feeds = {
            spec.name: to_array(raw[spec.name], spec, f"inputs.{spec.name}", allow_nan) for spec in inputs
        }
        return finish_request("columnar", feeds, inputs, None, None)
    if len(inputs) != 1:
        raise RequestError(
            f"'inputs' must be an object naming each of the model's {len(inputs)} inputs",
            field="inputs",
            expected={spec.name: spec.shape_text() for spec in inputs},
        )
    spec = inputs[0]
    return finish_request(
        "columnar_list", {spec.name: to_array(raw, spec, "inputs", allow_nan)}, inputs, None, None
    )


def encode(request: InferenceRequest, outputs: Sequence[TensorSpec], values: Sequence[Any]) -> dict[str, Any]:
    """The row or columnar response to ``request``: session.run results (in the order of ``outputs``)."""
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
