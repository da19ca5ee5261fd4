"""Converters to ONNX for models that are not ONNX yet (optional extras): scikit-learn estimators through
skl2onnx (`pip install 'sls-deploy[sklearn]'`), PyTorch modules through torch.onnx.export (torch), and
TensorFlow models (a Keras .keras/.h5 file or a SavedModel folder) through tf2onnx
(`pip install 'sls-deploy[tensorflow]'`; see convert_tensorflow.py, imported only for such a model).

A pickle (.pkl/.pickle/.joblib, or a .pt/.pth that is not a TorchScript archive) runs code of its author's
choosing when it is loaded: it is only opened with `trust_pickle=True` (--trust-pickle). A TorchScript
archive (torch.jit.save) loads without it; so does a Keras file without Lambda layers, and a SavedModel.
Every conversion is then checked (conversion_check.py): the ONNX file must answer as the source model does on
the samples (--sample, else generated inputs), or it is removed and a ModelError names the largest difference.
Side effects: reads the model (and the sample file for PyTorch example inputs and the TensorFlow check),
writes the .onnx file it is asked to write.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ..core.errors import ModelError, SlsDeployError
from .conversion_check import Run, check_conversion, onnx_runner, reference_samples

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
TORCH_SUFFIXES = (".pt", ".pth")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
CONVERTIBLE_SUFFIXES = PICKLE_SUFFIXES + TORCH_SUFFIXES + KERAS_SUFFIXES
SAVED_MODEL_FILE = "saved_model.pb"
# scikit-learn computes in float64, the converted model in float32: a near-tie may flip a label or a tree's
# branch on a few rows.
SKLEARN_ROW_SHARE = 0.01
TRUST_HINT = (
    "loading a pickle runs code stored in it: pass --trust-pickle only for a file you made or trust, "
    "or export the model to ONNX yourself"
)


def is_saved_model(path: Path) -> bool:
    """A TensorFlow SavedModel folder (it holds saved_model.pb)."""
    return path.is_dir() and (path / SAVED_MODEL_FILE).is_file()


def needs_conversion(path: Path) -> bool:
    """A pickle, a torch file, a Keras file or a SavedModel folder; not an .onnx or `compress` folder."""
    return path.suffix.lower() in CONVERTIBLE_SUFFIXES or is_saved_model(path)


def _require_trust(path: Path, trust_pickle: bool) -> None:
    if not trust_pickle:
        raise ModelError(f"{path} is a pickle and is only loaded with --trust-pickle", TRUST_HINT)


def _load_pickle(path: Path) -> Any:
    try:
        import joblib  # scikit-learn's own format; plain pickles load with it too

        return joblib.load(path)
    except ImportError:
        with path.open("rb") as f:
            return pickle.load(f)  # noqa: S301  # the user vouched for the file with --trust-pickle


def _is_torch_module(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") or any(
        c.__module__.startswith("torch.nn") for c in type(obj).__mro__
    )


def import_torch() -> Any:
    """torch (typed Any: the callers treat it as an optional extra), or a ModelError saying to install it."""
    try:
        import torch
    except ImportError as exc:
        raise ModelError(
            "converting a PyTorch model needs torch", "pip install torch, then run again"
        ) from exc
    return torch


def _load_torch(path: Path, trust_pickle: bool) -> Any:
    torch = import_torch()
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript, yet its archives still load.
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")  # a TorchScript archive: no pickled code
    except RuntimeError:
        pass
    _require_trust(path, trust_pickle)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelError(
            f"{path} cannot be loaded by torch: {exc}", "save it with torch.jit.save or torch.save(module)"
        ) from exc


@dataclass(frozen=True)
class TorchSource:
    """The PyTorch model an ONNX file was exported from (by export_torch), kept so that it can be loaded
    again: prune's recovery fine-tunes it."""

    path: Path  # a TorchScript archive, or a pickled module (torch.save, .pkl/.joblib)
    trust_pickle: bool

    def load(self) -> Any:
        """A fresh copy of the module, loaded as the conversion loaded it."""
        if self.path.suffix.lower() in TORCH_SUFFIXES:
            return _load_torch(self.path, self.trust_pickle)
        _require_trust(self.path, self.trust_pickle)
        return _load_pickle(self.path)


def torch_source(converted_from: Path | None, producer: str, trust_pickle: bool) -> TorchSource | None:
    """The source of a model convert_to_onnx converted from `converted_from`, when torch exported it (the
    ONNX file's `producer` is "pytorch ..."); None for ONNX files and scikit-learn conversions."""
    if converted_from is None or not producer.startswith("pytorch"):
        return None
    return TorchSource(converted_from, trust_pickle)


def _example_inputs(sample: Path | None, model_path: Path) -> dict[str, np.ndarray]:
    if sample is None or sample.suffix.lower() not in (".npz", ".npy"):
        raise ModelError(
            f"converting {model_path} to ONNX needs example inputs to trace it",
            "pass --sample samples.npz (one array per input, in the forward() argument order) or a .npy",
        )
    try:
        if sample.suffix.lower() == ".npy":
            arrays = {"input": np.load(sample, allow_pickle=False)}
        else:
            with np.load(sample, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"{sample} cannot be read: {exc}", "re-save it with numpy") from exc
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in arrays.items()}


def export_torch(module: Any, example: dict[str, np.ndarray], dest: Path) -> Path:
    """torch.onnx.export to one file, the first axis of every input and output dynamic ("batch")."""
    torch = import_torch()
    module.eval()
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(v[:2])) for v in example.values())
    with torch.no_grad():
        result = module(*tensors)
    count = len(result) if isinstance(result, tuple | list) else 1
    output_names = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
    input_names = list(example)
    axes = {name: {0: "batch"} for name in (*input_names, *output_names)}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript-based exporter (the one that takes TorchScript modules without onnxscript) warns
        # that it is deprecated, and about traced control flow; neither is the user's to act on here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tensors,
            str(dest),
            dynamo=False,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=axes,
        )
    return dest


def convert_sklearn(estimator: Any, dest: Path) -> Path:
    """skl2onnx with plain tensor outputs (no ZipMap) and one opset entry per domain."""
    try:
        from skl2onnx import convert_sklearn as to_onnx
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        raise ModelError(
            "converting a scikit-learn model needs skl2onnx", "pip install 'sls-deploy[sklearn]'"
        ) from exc
    features = getattr(estimator, "n_features_in_", None)
    if features is None:
        raise ModelError(
            f"the {type(estimator).__name__} does not record its number of features (not fitted?)",
            "fit the estimator before saving it",
        )
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skl2onnx warns about opsets newer than it was tested with
            model = to_onnx(
                estimator, initial_types=[("input", FloatTensorType([None, int(features)]))], options=options
            )
    except Exception as exc:  # skl2onnx raises RuntimeError/NotImplementedError for unsupported estimators
        raise ModelError(
            f"skl2onnx cannot convert a {type(estimator).__name__}: {str(exc).strip()[:300]}",
            "check skl2onnx's list of supported estimators, or export the model to ONNX yourself",
        ) from exc
    from .graphs import dedupe_opsets

    dedupe_opsets(model)
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(dest))
    return dest


def _names(dest: Path) -> tuple[list[str], list[str]]:
    graph = onnx.load(str(dest), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers], [o.name for o in graph.output]


def _torch_runner(module: Any, dest: Path) -> Run:
    """The module as a feeds → outputs-by-name callable, inputs in the exported order."""
    torch = import_torch()
    inputs, outputs = _names(dest)

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with torch.no_grad():
            result = module(*(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in inputs))
        values = list(result.values()) if isinstance(result, dict) else result
        values = values if isinstance(values, tuple | list) else [values]
        return {name: value.detach().cpu().numpy() for name, value in zip(outputs, values, strict=False)}

    return run


def _sklearn_runner(estimator: Any, dest: Path) -> Run:
    """predict / predict_proba / transform under skl2onnx's output names ("label", "probabilities",
    "variable"); an output it cannot name a method for is not compared."""
    _, outputs = _names(dest)

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = next(iter(feeds.values()))
        values: dict[str, np.ndarray] = {}
        if "label" in outputs:
            values["label"] = np.asarray(estimator.predict(x))
        if "probabilities" in outputs and hasattr(estimator, "predict_proba"):
            values["probabilities"] = np.asarray(estimator.predict_proba(x))
        if "variable" in outputs:
            method = estimator.predict if hasattr(estimator, "predict") else estimator.transform
            variable = np.asarray(method(x))  # a regressor's predict() is [N], skl2onnx's output [N, 1]
            values["variable"] = variable.reshape(-1, 1) if variable.ndim == 1 else variable
        return values

    return run


def _checked(dest: Path, framework: str, source: Run, sample: Path | None, row_share: float = 0.0) -> Path:
    """`dest` once it answers as `source` does on the samples (conversion_check.py); removed when not."""
    try:
        check_conversion(framework, source, onnx_runner(dest), reference_samples(sample, dest), row_share)
    except SlsDeployError:
        dest.unlink(missing_ok=True)  # a file that failed its check is not left where intake looks
        raise
    return dest


def _torch_checked(module: Any, sample: Path | None, path: Path, dest: Path) -> Path:
    export_torch(module, _example_inputs(sample, path), dest)
    return _checked(dest, "PyTorch", _torch_runner(module, dest), sample)


def convert_to_onnx(
    path: Path, dest: Path, *, trust_pickle: bool = False, sample: Path | None = None
) -> Path:
    """Convert the model at `path` (a pickled scikit-learn estimator or PyTorch module, or a TorchScript
    archive, a Keras file or a TensorFlow SavedModel folder) to the ONNX file `dest`. Raises ModelError with
    what to do when it cannot."""
    if not (path.is_file() or is_saved_model(path)):
        raise ModelError(
            f"model file {path} does not exist", "check the path (it is relative to the current folder)"
        )
    suffix = path.suffix.lower()
    if suffix in KERAS_SUFFIXES or is_saved_model(path):
        from .convert_tensorflow import convert_tensorflow

        return convert_tensorflow(path, dest, trust_pickle=trust_pickle, sample=sample)
    if suffix in TORCH_SUFFIXES:
        return _torch_checked(_load_torch(path, trust_pickle), sample, path, dest)
    _require_trust(path, trust_pickle)
    try:
        obj = _load_pickle(path)
    except Exception as exc:  # a broken or foreign pickle: ModuleNotFoundError, UnpicklingError, EOFError...
        raise ModelError(
            f"{path} cannot be unpickled: {exc}",
            f"install {exc.name!r} (the model was saved with it)"
            if isinstance(exc, ModuleNotFoundError)
            else "check that the file is a pickle or joblib dump of a scikit-learn estimator or a torch "
            "module, written by a compatible version",
        ) from exc
    if _is_torch_module(obj):
        return _torch_checked(obj, sample, path, dest)
    if type(obj).__module__.startswith(("sklearn", "imblearn", "xgboost", "lightgbm")) or hasattr(
        obj, "n_features_in_"
    ):
        convert_sklearn(obj, dest)
        return _checked(dest, "scikit-learn", _sklearn_runner(obj, dest), sample, SKLEARN_ROW_SHARE)
    raise ModelError(
        f"{path} holds a {type(obj).__module__}.{type(obj).__name__}, which sls-deploy cannot convert",
        "pass an ONNX file, a scikit-learn estimator or a PyTorch module",
    )
