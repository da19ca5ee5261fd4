"""A model's agreement with the original on a fixed set of rows, without laying out a model folder: the
original's outputs on those rows are computed once, each probed model is run on the same rows in a session
configured like the handler's, and both are compared as the gate compares (post-processed by the view, by the
gate's metric). The compressor gives methods two: one on at most SEARCH_ROWS calibration rows, evenly spread,
for the methods that search (mixed precision runs up to ten probes), so the gate's verdict stays on rows no
search has seen; and one on the validation rows, for notes only (prune's recovery reports before and after).
Runs sessions; no file I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
class AgreementProbe:
    original: Any  # the original's onnxruntime session
    outputs: Sequence[TensorSpec]  # its outputs, as the session names them
    samples: Samples  # the rows every probed model is compared on
    metric: str
    threshold: float
    memory_mb: int
    view: OutputView | None = None
    # the original's compared outputs on `samples`: computed on first use unless given
    expected: tuple[Sequence[TensorSpec], list[Any]] | None = field(default=None, repr=False)

    def on(self, samples: Samples) -> AgreementProbe:
        """The same comparison on other rows."""
        return replace(self, samples=samples, expected=None)

    def for_search(self) -> AgreementProbe:
        """The same comparison on at most SEARCH_ROWS of these rows, evenly spread."""
        return self.on(spread_subset(self.samples, SEARCH_ROWS))

    def _compared(self, values: list[Any]) -> tuple[Sequence[TensorSpec], list[Any]]:
        if self.view is None:
            return self.outputs, values
        return self.view(self.outputs, values, self.samples.arrays)

    def reference(self) -> tuple[Sequence[TensorSpec], list[Any]]:
        if self.expected is None:
            self.expected = self._compared(self.original.run(None, dict(self.samples.arrays)))
        return self.expected

    def __call__(self, model: onnx.ModelProto) -> gate.Agreement:
        """`model`'s agreement with the original on the probe's rows."""
        specs, reference = self.reference()
        session = ort.InferenceSession(
            model.SerializeToString(),
            sess_options=session_options(self.memory_mb),
            providers=["CPUExecutionProvider"],
        )
        _, candidate = self._compared(session.run(None, dict(self.samples.arrays)))
        return gate.measure_agreement(self.metric, specs, reference, candidate, sample_rows(self.samples))
