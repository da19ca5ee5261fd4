"""Request decoding and response encoding for the inference function: JSON payload ↔ numpy feeds. Pure, no I/O.

The request format is detected from the payload's keys, and each format has its module:

- ``oip``: Open Inference Protocol v2 (KServe/Triton), ``{"inputs": [{"name", "shape", "datatype",
  "data"}]}``; ``binary_tensors`` reads the protocol's binary tensor extension into that JSON form first.
- ``tfserving``: TF-Serving's row format ``{"instances": [...]}`` and columnar format
  ``{"inputs": {name: ...}}`` (or ``{"inputs": nested list}`` for single-input models).

``tensors`` turns JSON values into feeds and outputs back into JSON, for every format; ``body`` holds the
payload limit and JSON text; ``errors`` the one error body. The names below are the codec's public surface.

Errors: every client mistake raises ``RequestError`` (status 400, or 413 for bodies over ``MAX_BODY_BYTES``)
whose message names the field and what was expected. Its JSON form is the one error body of the handler:
``{"error": {"status", "message", "field"?, "expected"?}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..signature import TensorSpec
from . import oip, tfserving
from .body import MAX_BODY_BYTES, body_size, dumps, parse_json
from .errors import INTERNAL_ERROR_MESSAGE, RequestError, error_body
from .oip import model_metadata, oip_tensor
from .tensors import InferenceRequest, check_shape_of, check_symbolic_dims, json_type, to_array, to_json_value

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "MAX_BODY_BYTES",
    "InferenceRequest",
    "RequestError",
    "body_size",
    "check_shape_of",
    "check_symbolic_dims",
    "decode_request",
    "dumps",
    "encode_response",
    "error_body",
    "model_metadata",
    "oip_tensor",
    "parse_json",
    "to_array",
    "to_json_value",
]


def decode_request(
    payload: Any, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], allow_nan: bool = False
) -> InferenceRequest:
    """Validate ``payload`` against the model signature and build the feeds. Raises RequestError (400)."""
    if not isinstance(payload, dict):
        raise RequestError(
            f"request must be a JSON object, got {json_type(payload)}",
            field="body",
            expected='{"inputs": ...} or {"instances": [...]}',
        )
    if "instances" in payload:
        return tfserving.decode_instances(payload["instances"], inputs, allow_nan)
    if "inputs" not in payload:
        raise RequestError(
            "request has neither 'inputs' (Open Inference Protocol or TF-Serving columnar) nor "
            "'instances' (TF-Serving rows)",
            field="inputs",
            expected='{"inputs": [{"name", "shape", "datatype", "data"}]} or {"instances": [...]}',
        )
    if oip.is_oip_inputs(payload["inputs"]):
        return oip.decode(payload, inputs, outputs, allow_nan)
    return tfserving.decode_columnar(payload["inputs"], inputs, allow_nan)


def encode_response(
    request: InferenceRequest,
    outputs: Sequence[TensorSpec],
    values: Sequence[Any],
    model_name: str,
    model_version: str,
) -> dict[str, Any]:
    """session.run results (in the order of ``outputs``) → the response body of ``request.style``."""
    if request.style == "oip":
        return oip.encode(request, outputs, values, model_name, model_version)
    return tfserving.encode(request, outputs, values)
