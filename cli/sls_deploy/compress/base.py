"""What every compression method receives and returns. Pure data, no side effects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import onnx

from ..model.samples import Samples

if TYPE_CHECKING:
    from ..model.convert import TorchSource
    from .gate import Agreement


class MethodError(Exception):
    """A method cannot be applied to this model; the message says why (it becomes the candidate's verdict)."""


def quant_options(param: str | None) -> tuple[bool, bool]:
    """The options of the int8 methods: `:tensor` (default) or `:channel`, optionally `-mixed` (`:mixed`,
    `:channel-mixed`): (per channel, mixed precision)."""
    parts = (param or "tensor").split("-")
    mixed = parts[-1] == "mixed"
    granularity = "-".join(parts[:-1] if mixed else parts) or "tensor"
    if granularity not in ("tensor", "channel"):
        raise MethodError(
            f"unknown option {param!r}: use :tensor (default) or :channel, optionally with -mixed "
            "(:mixed, :channel-mixed)"
        )
    return granularity == "channel", mixed


class Probe(Protocol):
    """A model's agreement with the original on a fixed set of rows (probe.AgreementProbe)."""

    threshold: float
    samples: Samples  # the rows it compares on

    def __call__(self, model: onnx.ModelProto) -> Agreement: ...


@dataclass(frozen=True)
class MethodContext:
    samples: Samples  # calibration inputs (int8-static)
    arch: str  # the deploy architecture: x86_64 | arm64
    work_dir: Path  # scratch space for methods that go through files
    probe: Probe | None = None  # agreement on (some of) the calibration rows, for methods that search
    source: TorchSource | None = None  # the PyTorch model the ONNX was exported from (prune's recovery)
    finetune_steps: int = 0  # prune's recovery: fine-tuning steps on the calibration rows (0: none)
    # Agreement on the validation rows, for a method's notes only (prune's recovery: before and after);
    # nothing a method builds or chooses may rest on it.
    validation_probe: Probe | None = None


@dataclass(frozen=True)
class MethodResult:
    model: onnx.ModelProto
    session_config: Mapping[str, str] = field(default_factory=dict)  # → model.json "session_config"
    notes: tuple[str, ...] = ()
