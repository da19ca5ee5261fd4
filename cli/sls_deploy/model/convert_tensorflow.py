"""TensorFlow models to ONNX through tf2onnx (`pip install 'sls-deploy[tensorflow]'`): a Keras model file
(.keras, or a legacy .h5/.hdf5) or a SavedModel folder (one holding saved_model.pb).

The model is traced as one tf.function and converted at a fixed opset. Names: the ONNX inputs are named after
the Keras inputs (`keras.Input(name=...)`) or the SavedModel signature's input keys; the outputs after the
Keras output layers (`model.output_names`; the keys of a model that returns a dict; output_0, output_1, ...
when it records none, as a Sequential model without keras.Input) or the signature's output keys
(`model.export()` names them output_0, output_1, ...). A Keras model's first axis is made symbolic ("batch")
whatever batch size it was built with; a SavedModel keeps the shapes its signature was traced with (tf2onnx's
unknown first dimensions are renamed "batch").

The conversion is then checked: onnxruntime runs the ONNX file on the samples (the --sample .npz/.npy, else
inputs generated from the signature), at their batch size and at batch 1, and every output must match what
TensorFlow computes within a tolerance, or a ModelError names the largest difference.

A .keras/.h5 file is loaded with Keras's safe mode, which refuses Lambda layers (their Python code would run
when loaded); `trust_pickle=True` (--trust-pickle) lifts it. Side effects: imports TensorFlow (seconds), reads
the model and the sample file, writes the .onnx file it is asked to write.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..core.errors import ModelError, SlsDeployError
from .conversion_check import Run, check_conversion, compare_outputs, onnx_runner, reference_samples
from .convert import is_saved_model

INSTALL_HINT = "pip install 'sls-deploy[tensorflow]'"
OPSET = 17  # fixed, so the same model converts to the same file whatever onnx version is installed
SERVING = "serving_default"


@dataclass(frozen=True)
class Traced:
    """The model as a tf.function of positional tensors, which returns a dict of named outputs."""

    function: Any  # tf.function with `specs` as its input_signature
    specs: tuple[Any, ...]  # tf.TensorSpec, each named after a model input
    owner: Any = None  # what holds the function's variables (a loaded SavedModel), kept alive with it


def import_tensorflow() -> tuple[Any, Any]:
    """tensorflow and tf2onnx, or a ModelError naming the extra to install."""
    # TensorFlow's C++ start-up notices are noise on the CLI; a user's setting wins. TF 2.21 still prints its
    # oneDNN notice, which it logs before absl logging is initialised (tensorflow/tensorflow#102212).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
        import tf2onnx
    except ImportError as exc:
        raise ModelError(
            f"converting a TensorFlow model needs tensorflow and tf2onnx ({exc.name or exc} is missing)",
            f"{INSTALL_HINT}, then run again (or export the model to ONNX yourself with tf2onnx)",
        ) from exc
    return tf, tf2onnx


def _load_keras(path: Path, trust_pickle: bool) -> Any:
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ModelError(
            f"Keras runs on its {keras.backend.backend()} backend here; tf2onnx converts TensorFlow graphs",
            "set KERAS_BACKEND=tensorflow and run again",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns about legacy .h5 files and unbuilt optimizers
            return keras.saving.load_model(str(path), compile=False, safe_mode=not trust_pickle)
    except Exception as exc:  # ValueError/TypeError for unknown layers, OSError for a broken file
        text = str(exc).strip()
        if "safe_mode" in text:
            raise ModelError(
                f"{path} holds a Lambda layer, whose Python code runs when it is loaded",
                "pass --trust-pickle only for a file you made or trust, or replace the Lambda layer",
            ) from exc
        raise ModelError(
            f"Keras cannot load {path}: {text[:300]}",
            "custom layers must be importable and registered (keras.saving.register_keras_serializable); "
            "or save the model as a SavedModel with model.export(DIR), which loads without its Python code",
        ) from exc


def _keras_inputs(model: Any, path: Path) -> list[Any]:
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise ModelError(
            f"{path} does not record its inputs (a subclassed model, or one never built)",
            "build it with keras.Input(...) layers, or save it as a SavedModel with model.export(DIR)",
        )
    return inputs


def _input_structure(model: Any) -> Any:
    """The model's inputs as it takes them (a dict for a model built on a dict of inputs); None when it
    only records the flat list (a Sequential model loaded before it was ever called)."""
    try:
        return model.input
    except AttributeError:
        return None


def _named_outputs(result: Any, names: Sequence[str]) -> dict[str, Any]:
    if isinstance(result, Mapping):
        return dict(result)
    outputs = list(result) if isinstance(result, list | tuple) else [result]
    if len(names) != len(outputs) or len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(outputs))]
    return dict(zip(names, outputs, strict=True))


def trace_keras(tf: Any, path: Path, trust_pickle: bool) -> Traced:
    model = _load_keras(path, trust_pickle)
    inputs = _keras_inputs(model, path)
    specs = tuple(
        tf.TensorSpec((None, *tuple(i.shape)[1:]), i.dtype, name=str(i.name).split(":")[0]) for i in inputs
    )
    structure = _input_structure(model)
    names = [str(n) for n in getattr(model, "output_names", None) or ()]

    @tf.function(input_signature=list(specs), autograph=False)  # nothing here for AutoGraph
    def serve(*tensors: Any) -> dict[str, Any]:
        if isinstance(structure, Mapping):
            by_name = {spec.name: t for spec, t in zip(specs, tensors, strict=True)}
            feeds: Any = {key: by_name[str(k.name).split(":")[0]] for key, k in structure.items()}
        else:
            feeds = list(tensors) if len(tensors) > 1 else tensors[0]
        return _named_outputs(model(feeds, training=False), names)

    return Traced(serve, specs)


def _signature(loaded: Any, path: Path) -> Any:
    signatures = dict(loaded.signatures)
    if SERVING in signatures:
        return signatures[SERVING]
    if len(signatures) == 1:
        return next(iter(signatures.values()))
    found = ", ".join(sorted(signatures)) or "none"
    raise ModelError(
        f"{path} has no '{SERVING}' signature to convert (signatures: {found})",
        "save it with tf.saved_model.save(model, DIR, signatures={'serving_default': fn}) "
        "or with Keras's model.export(DIR)",
    )


def trace_saved_model(tf: Any, path: Path) -> Traced:
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # tf.errors.* and ValueError for a broken or foreign folder
        raise ModelError(
            f"TensorFlow cannot load the SavedModel {path}: {str(exc).strip()[:300]}",
            "check that the folder is complete (saved_model.pb with its variables/ folder)",
        ) from exc
    signature = _signature(loaded, path)
    _, keywords = signature.structured_input_signature
    order = list(keywords)
    specs = tuple(tf.TensorSpec(keywords[k].shape, keywords[k].dtype, name=k) for k in order)

    @tf.function(input_signature=list(specs), autograph=False)  # nothing here for AutoGraph
    def serve(*tensors: Any) -> dict[str, Any]:
        return _named_outputs(signature(**dict(zip(order, tensors, strict=True))), ())

    return Traced(serve, specs, owner=loaded)


def _name_batch_axes(model: onnx.ModelProto) -> None:
    """tf2onnx names unknown dimensions unk__N; the first one of each input and output becomes "batch"."""
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param.startswith("unk__"):
            dims[0].dim_param = "batch"


def export(tf2onnx: Any, traced: Traced, dest: Path, path: Path) -> Path:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf2onnx and TF deprecation warnings, not the user's to act on
            model, _ = tf2onnx.convert.from_function(
                traced.function, input_signature=list(traced.specs), opset=OPSET
            )
    except Exception as exc:  # tf2onnx raises ValueError/RuntimeError/KeyError for what it cannot handle
        raise ModelError(
            f"tf2onnx cannot convert {path}: {str(exc).strip()[:300]}",
            "check tf2onnx's supported operators, or export the model to ONNX yourself",
        ) from exc
    _name_batch_axes(model)
    model.producer_version = str(tf2onnx.__version__)  # tf2onnx appends its git revision, "None" in wheels
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(dest))
    return dest


def tf_runner(tf: Any, traced: Traced) -> Run:
    """The traced TensorFlow function as a feeds → outputs-by-name callable."""

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = traced.function(*(tf.constant(feeds[spec.name]) for spec in traced.specs))
        return {name: np.asarray(tensor.numpy()) for name, tensor in result.items()}

    return run


def compare(tf: Any, traced: Traced, run_onnx: Run, feeds: dict[str, np.ndarray]) -> dict[str, float]:
    """Max |onnx - tf| per output on `feeds`; ModelError when an output differs beyond the tolerance."""
    return compare_outputs("TensorFlow", tf_runner(tf, traced)(feeds), run_onnx(feeds))


def convert_tensorflow(
    path: Path, dest: Path, *, trust_pickle: bool = False, sample: Path | None = None
) -> Path:
    """Convert the Keras file or SavedModel folder at `path` to the ONNX file `dest`, checked against
    TensorFlow on the samples. Raises ModelError (or SampleError for a bad sample file) when it cannot."""
    tf, tf2onnx = import_tensorflow()
    traced = trace_saved_model(tf, path) if is_saved_model(path) else trace_keras(tf, path, trust_pickle)
    export(tf2onnx, traced, dest, path)
    try:
        check_conversion(
            "TensorFlow", tf_runner(tf, traced), onnx_runner(dest), reference_samples(sample, dest)
        )
    except SlsDeployError:
        dest.unlink(missing_ok=True)  # a file that failed its check is not left where intake looks
        raise
    return dest
