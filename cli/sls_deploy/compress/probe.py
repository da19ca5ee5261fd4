"""Agreement on the calibration rows, for methods that search (mixed precision tries several sets of fp32
nodes): at most SEARCH_ROWS of them, evenly spread (each probe runs the whole set, and a search runs up to ten
probes); the original's outputs on those rows are computed once, each probed model is run on the same rows in
a session configured like the handler's, and both are compared as the gate compares (post-processed by the
view, by the gate's metric). The validation rows are never touched here, so the gate's verdict stays on rows
the search has not seen. Runs sessions; no file I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx
import onnxruntime as ort

from sls_inference.loader import session_options
from sls_inference.signature import TensorSpec

from ..model.processing import OutputView
from ..model.samples import Samples, sample_rows
from . import gate
from .validation import spread_subset

SEARCH_ROWS = 96


@dataclass
class CalibrationProbe:
    original: Any  # the original's onnxruntime session
    outputs: Sequence[TensorSpec]  # its outputs, as the session names them
    samples: Samples  # the calibration rows (kept: at most SEARCH_ROWS of them)
    metric: str
    threshold: float
    memory_mb: int
    view: OutputView | None = None
    runs: int = 0  # how many models were probed
    _reference: tuple[Sequence[TensorSpec], list[Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.samples = spread_subset(self.samples, SEARCH_ROWS)

    def _compared(self, values: list[Any]) -> tuple[Sequence[TensorSpec], list[Any]]:
        if self.view is None:
            return self.outputs, values
        return self.view(self.outputs, values, self.samples.arrays)

    def reference(self) -> tuple[Sequence[TensorSpec], list[Any]]:
        if self._reference is None:
            self._reference = self._compared(self.original.run(None, dict(self.samples.arrays)))
        return self._reference

    def __call__(self, model: onnx.ModelProto) -> gate.Agreement:
        """`model`'s agreement with the original on the calibration rows."""
        specs, reference = self.reference()
        session = ort.InferenceSession(
            model.SerializeToString(),
            sess_options=session_options(self.memory_mb),
            providers=["CPUExecutionProvider"],
        )
        self.runs += 1
        _, candidate = self._compared(session.run(None, dict(self.samples.arrays)))
        return gate.measure_agreement(self.metric, specs, reference, candidate, sample_rows(self.samples))
