"""The Lambda entry point ``lambda_handler(event, context)`` (the template's Handler
``sls_inference.handler.lambda_handler``), serving one ONNX model with an ``app.InferenceApp``.

The module-level app is made from the environment (``InferenceApp.from_env``). Inside a Lambda runtime
(AWS_LAMBDA_RUNTIME_API set) it is created at import, so a missing or altered model fails the init phase
loudly (ModelLoadError); elsewhere it is created on the first call. What each event source answers is in
``sources``; the model call path in ``dataplane``; metrics in ``metrics``; drift in ``drift_watch``.
"""

from __future__ import annotations

import os
from typing import Any

from .app import InferenceApp

__all__ = ["InferenceApp", "get_app", "lambda_handler"]

_app: InferenceApp | None = None


def get_app() -> InferenceApp:
    """The module's InferenceApp, created from the environment on first use."""
    global _app
    if _app is None:
        _app = InferenceApp.from_env()
    return _app


def lambda_handler(event: Any, context: Any) -> Any:
    return get_app().handle(event, context)


if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    # Inside a Lambda runtime: load the model during init so a broken model layer fails the init loudly.
    get_app()
