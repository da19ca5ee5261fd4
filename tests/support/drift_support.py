"""Helpers for the drift tests and benchmark: model folders with a drift baseline laid out as `push` lays them
out (model.onnx + model.json + baseline.json), and a small image model. Writes only under the given dirs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper, numpy_helper

from sls_deploy.model.baseline import DriftBaseline, compute_baseline
from sls_deploy.model.folder import write_drift_baseline, write_model_dir
from sls_deploy.model.onnx_model import inspect_model
from sls_deploy.model.samples import Samples
from sls_inference.loader import load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS = EXAMPLES / "digits.onnx"
DIGITS_SAMPLES = np.load(EXAMPLES / "digits-samples.npz")["input"]


def model_dir(
    directory: Path,
    model: Path | onnx.ModelProto,
    samples: Mapping[str, np.ndarray] | None = None,
    *,
    every: int = 100,
    seconds: int = 60,
    name: str = "model",
    generated: bool = False,
) -> Path:
    """`directory/model` as the model layer holds it; with `samples`, with the drift baseline made from them
    and the model's outputs on them (the loader's session, as the push-time smoke check runs it)."""
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(model, onnx.ModelProto):
        path = directory / f"{name}.onnx"
        onnx.save(model, str(path))
    else:
        path = model
    info = inspect_model(path)
    layer = write_model_dir(
        path, directory / "model", name, inputs=info.inputs, outputs=info.outputs, opset=info.opset
    )
    if samples is None:
        return layer
    rows = min(a.shape[0] for a in samples.values())
    source = "generated" if generated else str(directory / "samples.npz")
    sample_set = Samples(arrays=dict(samples), source=source, rows=rows)
    loaded = load_model(layer)
    values = loaded.session.run(None, dict(samples))
    predictions = {spec.name: np.asarray(v) for spec, v in zip(loaded.outputs, values, strict=True)}
    baseline = DriftBaseline(
        compute_baseline(sample_set, info.inputs, info.outputs, predictions), every, seconds
    )
    write_drift_baseline(layer, baseline.data, baseline.manifest_entry())
    return layer


def digits_model_dir(directory: Path, every: int = 100, seconds: int = 60) -> Path:
    """The example model with the baseline of its sample file."""
    return model_dir(
        directory, DIGITS, {"input": DIGITS_SAMPLES}, name="digits", every=every, seconds=seconds
    )


def image_model(size: int = 64, classes: int = 10) -> onnx.ModelProto:
    """pixels float32 [batch, 3, size, size] → channel means → a linear layer → softmax "probabilities"."""
    weights = np.random.default_rng(0).standard_normal((3, classes)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixels"], ["means"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["means", "weights"], ["scores"]),
            helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1),
        ],
        "image",
        [helper.make_tensor_value_info("pixels", T.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("probabilities", T.FLOAT, ["batch", classes])],
        initializer=[numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def image_samples(rows: int = 64, size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (rows, 3, size, size)).astype(np.float32)
