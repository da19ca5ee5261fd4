"""Helpers for the inference handler's tests: model directories (the digits example and small synthetic ONNX
graphs), apps with a private log stream, Lambda events and contexts. Writes only under the given tmp dirs."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from aws_lambda_powertools.logging import Logger
from onnx import TensorProto as T
from onnx import helper, numpy_helper

from sls_inference.app import InferenceApp
from sls_inference.loader import load_model, sha256_file
from sls_inference.signature import specs_from_ort

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS_REQUEST = json.loads((EXAMPLES / "digits-request.json").read_text())
DIGITS_ROWS = np.load(EXAMPLES / "digits-samples.npz")["input"]


def write_model_dir(
    directory: Path, model: bytes | onnx.ModelProto | Path, name: str = "model", **manifest_extra: Any
) -> Path:
    """A model layer folder: model.onnx + model.json (format 1, as the packager writes it)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "model.onnx"
    if isinstance(model, Path):
        shutil.copyfile(model, target)
    else:
        target.write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
    sha = sha256_file(target)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    proto = onnx.load(str(target))
    manifest = {
        "format": 1,
        "name": name,
        "version": sha[:12],
        "file": "model.onnx",
        "sha256": sha,
        "size_bytes": target.stat().st_size,
        "opset": {op.domain: op.version for op in proto.opset_import},
        "signature": {
            "inputs": [s.to_json() for s in specs_from_ort(session.get_inputs())],
            "outputs": [s.to_json() for s in specs_from_ort(session.get_outputs())],
        },
        "compression": {"method": "none"},
        "session_config": {},
        **manifest_extra,
    }
    (directory / "model.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


def digits_dir(tmp_path: Path) -> Path:
    return write_model_dir(tmp_path / "digits", EXAMPLES / "digits.onnx", name="digits")


def make_app(model_dir: Path, *, counting: bool = False, session: Any = None, **kwargs: Any) -> InferenceApp:
    """An InferenceApp logging to its own StringIO (read it with `logs(app)`)."""
    model = load_model(model_dir)
    if counting:
        model = dataclasses.replace(model, session=CountingSession(model.session))
    if session is not None:
        model = dataclasses.replace(model, session=session)
    logger = Logger(service=f"test-{uuid.uuid4().hex[:8]}", stream=io.StringIO())
    return InferenceApp(
        model, function_name=kwargs.pop("function_name", "fn-under-test"), logger=logger, **kwargs
    )


def logs(app: InferenceApp) -> list[dict[str, Any]]:
    stream = app.logger.registered_handler.stream  # type: ignore[attr-defined]
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


class CountingSession:
    """Wraps a real onnxruntime session and records the feed shapes of every run."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.runs: list[dict[str, tuple[int, ...]]] = []

    def run(self, output_names: Any, feeds: Mapping[str, np.ndarray]) -> Any:
        self.runs.append({name: tuple(array.shape) for name, array in feeds.items()})
        return self.session.run(output_names, feeds)


class BrokenSession:
    """A session whose run fails the way a bug in the server would (not because of the input)."""

    def run(self, output_names: Any, feeds: Any) -> Any:
        raise RuntimeError("disk on fire")


@dataclasses.dataclass
class FakeContext:
    aws_request_id: str = "req-0001"
    function_name: str = "fn-under-test"
    memory_limit_in_mb: int = 1769
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn-under-test"


# ---------------------------------------------------------------------------------------------- events


def http_v2(method: str, path: str, body: Any = None, *, b64: bool = False) -> dict[str, Any]:
    text = body if body is None or isinstance(body, str) else json.dumps(body)
    if b64 and text is not None:
        text = base64.b64encode(text.encode()).decode()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1"},
            "requestId": "abc",
            "stage": "$default",
        },
        "body": text,
        "isBase64Encoded": b64,
    }


def rest_v1(method: str, path: str, body: Any = None) -> dict[str, Any]:
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "stage": "prod"},
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


def sqs_event(bodies: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": "rh",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {},
            }
            for message_id, body in bodies.items()
        ]
    }


def s3_event(bucket: str, *keys: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": 10},
                },
            }
            for key in keys
        ]
    }


def body_of(response: Mapping[str, Any]) -> Any:
    """An HTTP response's JSON body, parsed strictly (NaN/Infinity tokens are refused)."""

    def refuse(token: str) -> Any:
        raise ValueError(f"invalid JSON constant {token}")

    return json.loads(response["body"], parse_constant=refuse)


def oip_request(name: str, datatype: str, data: Any, shape: list[int] | None = None) -> dict[str, Any]:
    array = np.asarray(data)
    return {
        "inputs": [
            {
                "name": name,
                "datatype": datatype,
                "shape": shape or list(array.shape),
                "data": array.reshape(-1).tolist(),
            }
        ]
    }


# ---------------------------------------------------------------------------------------------- models


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    initializers: list[onnx.TensorProto] | None = None,
    ml: bool = False,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers or [])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("ai.onnx.ml", 3)] if ml else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def multi_io_model() -> onnx.ModelProto:
    """x float32 [batch, 3] and ids int64 [batch] → doubled float32 [batch, 3] and ids_out int64 [batch]."""
    return _model(
        [
            helper.make_node("Add", ["x", "x"], ["doubled"]),
            helper.make_node("Identity", ["ids"], ["ids_out"]),
        ],
        [
            helper.make_tensor_value_info("x", T.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("ids", T.INT64, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("doubled", T.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("ids_out", T.INT64, ["batch"]),
        ],
    )


def dtypes_model() -> onnx.ModelProto:
    """bool, string, float16 and uint8 inputs (symbolic dim "n"), each passed through an op of its type."""
    return _model(
        [
            helper.make_node("Not", ["flag"], ["not_flag"]),
            helper.make_node("Identity", ["word"], ["word_out"]),
            helper.make_node("Add", ["half", "half"], ["half_twice"]),
            helper.make_node("Identity", ["small"], ["small_out"]),
        ],
        [
            helper.make_tensor_value_info("flag", T.BOOL, ["n"]),
            helper.make_tensor_value_info("word", T.STRING, ["n"]),
            helper.make_tensor_value_info("half", T.FLOAT16, ["n", 2]),
            helper.make_tensor_value_info("small", T.UINT8, ["n"]),
        ],
        [
            helper.make_tensor_value_info("not_flag", T.BOOL, ["n"]),
            helper.make_tensor_value_info("word_out", T.STRING, ["n"]),
            helper.make_tensor_value_info("half_twice", T.FLOAT16, ["n", 2]),
            helper.make_tensor_value_info("small_out", T.UINT8, ["n"]),
        ],
    )


def fixed_first_dim_model() -> onnx.ModelProto:
    """grid float32 [3, 4] (no batch dim) → row_sums float32 [3]."""
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    return _model(
        [helper.make_node("ReduceSum", ["grid", "axes"], ["row_sums"], keepdims=0)],
        [helper.make_tensor_value_info("grid", T.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("row_sums", T.FLOAT, [3])],
        [axes],
    )


def log_model() -> onnx.ModelProto:
    """x float32 [n] → log(x): NaN for negatives, -inf for 0."""
    return _model(
        [helper.make_node("Log", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", T.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["n"])],
    )


def broadcast_model() -> onnx.ModelProto:
    """p + q with unnamed batch dims: rows that differ fail inside onnxruntime's Add kernel."""
    return _model(
        [helper.make_node("Add", ["p", "q"], ["s"])],
        [
            helper.make_tensor_value_info("p", T.FLOAT, [None, 3]),
            helper.make_tensor_value_info("q", T.FLOAT, [None, 3]),
        ],
        [helper.make_tensor_value_info("s", T.FLOAT, [None, 3])],
    )


def embedding_model(rows: int = 4) -> onnx.ModelProto:
    """ids int64 [n] → vectors float32 [n, 2] from a table of `rows` rows (ids ≥ rows are out of range)."""
    table = numpy_helper.from_array(np.arange(rows * 2, dtype=np.float32).reshape(rows, 2), "table")
    return _model(
        [helper.make_node("Gather", ["table", "ids"], ["vectors"])],
        [helper.make_tensor_value_info("ids", T.INT64, ["n"])],
        [helper.make_tensor_value_info("vectors", T.FLOAT, ["n", 2])],
        [table],
    )


def zipmap_model() -> onnx.ModelProto:
    """probs float32 [n, 2] → label int64 [n] (argmax) and a seq(map(int64, float)) as scikit-learn's ZipMap."""
    seq_of_maps = helper.make_sequence_type_proto(
        helper.make_map_type_proto(T.INT64, helper.make_tensor_type_proto(T.FLOAT, []))
    )
    return _model(
        [
            helper.make_node("ArgMax", ["probs"], ["label"], axis=1, keepdims=0),
            helper.make_node(
                "ZipMap", ["probs"], ["probabilities"], domain="ai.onnx.ml", classlabels_int64s=[0, 1]
            ),
        ],
        [helper.make_tensor_value_info("probs", T.FLOAT, ["n", 2])],
        [
            helper.make_tensor_value_info("label", T.INT64, ["n"]),
            helper.make_value_info("probabilities", seq_of_maps),
        ],
        ml=True,
    )
