"""Labels: a classifier's scores → the best class's name and score, and the top-k alternatives.

The labels file is a JSON list (index → name) beside model.json. Scores that are not probabilities already
(a row outside [0, 1] or not summing to 1) are turned into them with a softmax. The new outputs sit beside the
model's own: "label" (string), "score" (float32) and, with top_k > 1, "top_k_labels" / "top_k_scores".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..codec import RequestError
from ..signature import TensorSpec
from .spec import LabelsSpec, SpecError, labels_output

LABEL = TensorSpec("label", "string", ("N",))
SCORE = TensorSpec("score", "float32", ("N",))
TOP_K_LABELS = TensorSpec("top_k_labels", "string", ("N", "K"))
TOP_K_SCORES = TensorSpec("top_k_scores", "float32", ("N", "K"))


def read_labels(path: Path) -> list[str]:
    """The labels file: a JSON list of names; SpecError when it is anything else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"labels file {path.name} cannot be read: {exc}") from exc
    if not isinstance(data, list) or not data or not all(isinstance(x, str) for x in data):
        raise SpecError(f"labels file {path.name} must be a non-empty JSON list of strings")
    return data


class LabelsProcessor:
    def __init__(self, spec: LabelsSpec, model_dir: Path, outputs: Sequence[TensorSpec]) -> None:
        self.names = np.array(
            read_labels(model_dir / spec.file), dtype=object
        )  # indexed by class per request
        self.output = labels_output(spec, len(self.names), outputs)
        self.top_k = min(spec.top_k, len(self.names))

    def postprocess(self, specs: list[TensorSpec], values: list[Any]) -> tuple[list[TensorSpec], list[Any]]:
        """`specs`/`values` with the label outputs appended (the model's own outputs stay)."""
        by_name = {spec.name: value for spec, value in zip(specs, values, strict=True)}
        if self.output.name not in by_name:
            return specs, values  # the request selected other outputs (OIP "outputs")
        scores = np.asarray(by_name[self.output.name], dtype=np.float64)
        if scores.ndim == 1:
            scores = scores[None, :]
        if scores.ndim != 2 or scores.shape[1] != len(self.names):
            raise RequestError(
                f"output {self.output.name} has shape {list(scores.shape)}; the {len(self.names)} labels "
                "need one score per label in each row",
                status=500,
            )
        probabilities = scores if _are_probabilities(scores) else _softmax(scores)
        if self.top_k == 1:  # argmax: the first of equal scores, as the stable sort below
            order = probabilities.argmax(axis=1)[:, None]
        else:
            order = np.argsort(-probabilities, axis=1, kind="stable")[:, : self.top_k]
        top_scores = np.take_along_axis(probabilities, order, axis=1).astype(np.float32)
        names = self.names
        specs = [*specs, LABEL, SCORE]
        values = [*values, names[order[:, 0]], top_scores[:, 0]]
        if self.top_k > 1:
            specs += [TOP_K_LABELS, TOP_K_SCORES]
            values += [names[order], top_scores]
        return specs, values


def _are_probabilities(scores: np.ndarray) -> bool:
    """Rows of scores in [0, 1] that sum to 1 (± 1e-3); NaN anywhere makes it False."""
    if not scores.size:
        return False
    return bool(scores.min() >= 0 and scores.max() <= 1 and np.abs(scores.sum(axis=1) - 1).max() <= 1e-3)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
