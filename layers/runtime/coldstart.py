"""The runtime layer's cold-start path: which of its modules a Lambda cold start of the inference function
loads, so the builder ships bytecode for exactly those (layers/runtime/README.md, "Bytecode").

Run by sls_deploy.package.runtime_layer with the layer's target interpreter, isolated (`-I -S -B`), as
`python coldstart.py <layer python/ folder> <output.json>`: it puts only the layer on sys.path, imports what
the handler (functions/inference/sls_inference) imports from the layer, builds and runs a tiny ONNX session,
logs one line and flushes one metric, then writes the layer-relative paths of the `.py` files of every module
loaded from the layer to <output.json> as a sorted JSON list. Logs and metrics go to stdout.

This file is part of the recipe hash: editing it makes the next build a new layer. Keep the imports in step
with the handler's (tests/package/test_runtime_layer_recipe.py checks that).
"""

import json
import os
import sys

layer, output = sys.argv[1:3]
sys.path.insert(0, layer)

# What the handler imports from the layer at module level (sls_inference/{handler,loader,codec}.py), in its
# spelling, and the package's own entry point (aws_lambda_powertools/__init__ imports Logger, Metrics, Tracer).
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from aws_lambda_powertools import Metrics  # noqa: E402
from aws_lambda_powertools.logging import Logger  # noqa: E402
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit  # noqa: E402
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument  # noqa: E402, F401


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: "bytes | str | int") -> bytes:
    """One protobuf field: a varint for int, length-delimited for str/bytes."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _tensor_value(name: str) -> bytes:
    """ValueInfoProto: float32 tensor of shape ["batch", 2]."""
    shape = _field(1, _field(2, "batch")) + _field(1, _field(1, 2))
    return _field(1, name) + _field(2, _field(1, _field(1, 1) + _field(2, shape)))


def tiny_model() -> bytes:
    """ModelProto (ir_version 8, opset 13) of y = x * x, hand-encoded: the layer has no `onnx` package."""
    node = _field(1, "x") + _field(1, "x") + _field(2, "y") + _field(4, "Mul")
    graph = (
        _field(1, node)
        + _field(2, "coldstart")
        + _field(11, _tensor_value("x"))
        + _field(12, _tensor_value("y"))
    )
    return _field(1, 8) + _field(8, _field(1, "") + _field(2, 13)) + _field(7, graph)


options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(tiny_model(), sess_options=options, providers=["CPUExecutionProvider"])
inputs = {spec.name: (spec.type, tuple(spec.shape)) for spec in session.get_inputs()}
(result,) = session.run(["y"], {"x": np.asarray([[1.0, 2.0]], dtype=np.float32)})
assert result.tolist() == [[1.0, 4.0]], result

# What the handler does with powertools on a first invocation.
logger = Logger(service="coldstart")
logger.append_keys(request_id="coldstart", event_type="direct")
logger.info("coldstart probe", extra={"inputs": repr(inputs)})
try:
    raise RuntimeError("coldstart probe: a logged exception")
except RuntimeError:
    logger.exception("internal error")


class _Context:
    function_name, function_version, invoked_function_arn = (
        "coldstart",
        "$LATEST",
        "arn:aws:lambda:::coldstart",
    )
    memory_limit_in_mb, aws_request_id = 1769, "coldstart"


ephemeral = EphemeralMetrics(namespace="SlsDeploy", service="coldstart")
ephemeral.set_default_dimensions(function_name="coldstart")
ephemeral.add_cold_start_metric(context=_Context())
for metrics in (ephemeral, Metrics(namespace="SlsDeploy", service="coldstart")):
    metrics.add_metric(name="Probe", unit=MetricUnit.Milliseconds, value=1.5)
    metrics.flush_metrics()

root = os.path.realpath(layer)
loaded = set()
for module in list(sys.modules.values()):
    origin = os.path.realpath(getattr(module, "__file__", None) or "/")
    if origin.endswith(".py") and origin.startswith(root + os.sep):
        loaded.add(os.path.relpath(origin, root).replace(os.sep, "/"))
with open(output, "w", encoding="utf-8") as fh:
    json.dump(sorted(loaded), fh, indent=0)
