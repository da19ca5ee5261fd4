"""The one-way flow of `build` and `push`: model → samples → layers → budget → smoke check → template → target.

Each step hands a frozen record to the next. Side effects: writes build outputs under the project's state
folder and the cache, writes template.yaml, and (push only) deploys through a target.

Modules: intake (model, samples, what the layer is built from), flow (build, push, compress), results (the
records they answer with).
"""

from __future__ import annotations

from .flow import build, canary_spec, compress, push
from .results import BuildResult, CompressResult, PushResult, SmokeCheck

__all__ = [
    "BuildResult",
    "CompressResult",
    "PushResult",
    "SmokeCheck",
    "build",
    "canary_spec",
    "compress",
    "push",
]
