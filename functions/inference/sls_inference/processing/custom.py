"""Custom processing: the user's own module (push --handler FILE.py or a folder), shipped in the model folder.

The module may define any of, in the shape of TorchServe's handler and SageMaker's input_fn/output_fn:

    load(model_dir) -> state                             once, at init
    preprocess(request, state) -> feeds                  request: the decoded JSON body (or bytes for a
                                                         raw body); feeds: {input name: array-like}
    postprocess(outputs, request, state) -> response     outputs: {output name: numpy array}; response:
                                                         any JSON value

A hook raising ``BadRequest("what is wrong")`` answers 400 with that message; any other exception is a 500
whose traceback goes to the log, never to the response.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..codec import RequestError
from ..signature import TensorSpec
from .spec import HandlerSpec, SpecError


class BadRequest(Exception):
    """Raised by a custom hook for input the client must fix: the response is a 400 with this message."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class HookError(Exception):
    """A custom hook failed (not with BadRequest): answered as a 500, its cause logged."""


def load_module(path: Path) -> ModuleType:
    """Import the user's module from `path` (its folder first on sys.path, for its own helper modules)."""
    if not path.is_file():
        raise SpecError(f"the custom handler {path} does not exist")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    found = importlib.util.spec_from_file_location(f"sls_user_handler_{path.stem}", path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


class CustomProcessor:
    def __init__(self, spec: HandlerSpec, model_dir: Path, inputs: Sequence[TensorSpec]) -> None:
        self.module = load_module(model_dir / spec.module)
        self.inputs = {s.name: s for s in inputs}
        self.has_preprocess = callable(getattr(self.module, "preprocess", None))
        self.has_postprocess = callable(getattr(self.module, "postprocess", None))
        load = getattr(self.module, "load", None)
        self.state = load(str(model_dir)) if callable(load) else None

    def preprocess(self, request: Any) -> dict[str, np.ndarray]:
        feeds = self._call("preprocess", request, self.state)
        if not isinstance(feeds, dict):
            raise HookError(f"preprocess returned {type(feeds).__name__}, not a dict of input name → array")
        missing = [name for name in self.inputs if name not in feeds]
        if missing:
            raise HookError(f"preprocess returned no value for input(s) {', '.join(missing)}")
        try:
            return {name: np.asarray(feeds[name], dtype=_dtype(spec)) for name, spec in self.inputs.items()}
        except (TypeError, ValueError) as exc:
            raise HookError(
                f"preprocess returned a value that is not an array of the input's type: {exc}"
            ) from exc

    def postprocess(self, specs: Sequence[TensorSpec], values: Sequence[Any], request: Any) -> Any:
        outputs = {spec.name: value for spec, value in zip(specs, values, strict=True)}
        return self._call("postprocess", outputs, request, self.state)

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.module, name)(*args)
        except BadRequest as exc:
            raise RequestError(exc.message, field=exc.field or "body") from exc
        except RequestError:
            raise
        except Exception as exc:
            raise HookError(f"the custom handler's {name} failed: {type(exc).__name__}: {exc}") from exc


def _dtype(spec: TensorSpec) -> Any:
    return object if spec.dtype == "string" else np.dtype(spec.dtype)
