"""Helpers for the gateway and pool tests: a project with two real models (the digits example and a small
float32 MatMul+Add model) and three small test functions deployed next to them."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sls_deploy.core.config import ProjectConfig
from sls_deploy.pipeline import push
from sls_deploy.targets.local.target import LocalTarget
from tests.support.local_target_helpers import code_zip, function_build

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AFFINE_W = np.array([[1.0, -1.0], [2.0, 0.5], [0.0, 3.0]], dtype=np.float32)
AFFINE_B = np.array([0.5, -2.0], dtype=np.float32)

# One handler for the test functions: what it does is chosen by the event.
TOOLS = """
import base64, json, os, time

def handler(event, context):
    if "requestContext" in event:  # a function URL event: echo it in a custom response
        if event.get("rawPath") == "/raise":
            raise RuntimeError("url boom")
        if event.get("rawPath") == "/binary":
            return {"statusCode": 200, "headers": {"content-type": "image/png"}, "isBase64Encoded": True,
                    "body": base64.b64encode(b"\\x89PNG\\x00\\x01").decode()}
        return {"statusCode": 201, "headers": {"x-echo": "yes", "content-type": "application/json"},
                "cookies": ["a=1; Path=/", "b=2"], "body": json.dumps({"event": event})}
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    elif action == "raise":
        raise ValueError("bad input: " + str(event.get("x")))
    elif action == "alloc":
        held = [b"\\x01" * (16 * 1024 * 1024) for _ in range(event["mb"] // 16)]
        return {"held_mb": 16 * len(held)}
    elif action == "write":
        with open(event["path"], "w") as fh:
            fh.write(context.aws_request_id)
    custom = getattr(context.client_context, "custom", None)
    return {"pid": os.getpid(), "event": event, "arn": context.invoked_function_arn, "custom": custom}
"""


def affine_model(path: Path) -> Path:
    """y = x @ W + b: float32 [N, 3] → [N, 2], with a symbolic batch dim."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(AFFINE_W, "W"), numpy_helper.from_array(AFFINE_B, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def affine(rows: np.ndarray) -> np.ndarray:
    return rows.astype(np.float32) @ AFFINE_W + AFFINE_B


def deploy_project(root: Path, python: Path, cache_dir: Path) -> ProjectConfig:
    """Push digits and affine, and deploy the tools function three times with different settings:
    echo (256 MB, 3 s), single (reserved concurrency 1, 5 s) and tiny (128 MB, 1 s)."""
    root.mkdir(parents=True, exist_ok=True)
    config = ProjectConfig(project_dir=root, project="serve", cache_dir=str(cache_dir), python=str(python))
    push(
        config,
        LocalTarget(config),
        EXAMPLES / "digits.onnx",
        name="digits",
        sample=EXAMPLES / "digits-samples.npz",
    )
    push(config, LocalTarget(config), affine_model(root / "affine.onnx"), name="affine")
    code = code_zip(root / "tools", TOOLS)
    target = LocalTarget(config)
    target.deploy(function_build("echo", code, timeout=3, memory=256))
    target.deploy(dataclasses.replace(function_build("single", code, timeout=5), reserved_concurrency=1))
    target.deploy(function_build("tiny", code, timeout=1, memory=128))
    return config


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll `condition` until it holds (True) or the time is up (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
