"""What every compression method receives and returns. Pure data, no side effects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from ..model.samples import Samples


class MethodError(Exception):
    """A method cannot be applied to this model; the message says why (it becomes the candidate's verdict)."""


def per_channel_option(param: str | None) -> bool:
    """The `:tensor` (default) / `:channel` option of the int8 methods."""
    if param in (None, "tensor"):
        return False
    if param == "channel":
        return True
    raise MethodError(f"unknown option {param!r}: use :tensor (default) or :channel")


@dataclass(frozen=True)
class MethodContext:
    samples: Samples  # calibration inputs (int8-static)
    arch: str  # the deploy architecture: x86_64 | arm64
    work_dir: Path  # scratch space for methods that go through files


@dataclass(frozen=True)
class MethodResult:
    model: onnx.ModelProto
    session_config: Mapping[str, str] = field(default_factory=dict)  # → model.json "session_config"
    notes: tuple[str, ...] = ()
