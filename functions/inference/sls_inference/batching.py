"""Batching several decoded requests into one ``session.run``: which requests may be concatenated along axis
0, how, and how the outputs are split back per request. Pure, no I/O.

Requests batch together when the model's first dim is symbolic on every input, and the requests agree on the
inputs' dtypes and trailing dims and on the output selection (equal ``batch_key``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .codec import InferenceRequest
from .signature import TensorSpec


def batchable(inputs: Sequence[TensorSpec]) -> bool:
    """Requests can be concatenated along axis 0 when every input's first dim is symbolic."""
    return bool(inputs) and all(spec.shape and not isinstance(spec.shape[0], int) for spec in inputs)


def batch_key(request: InferenceRequest) -> tuple[Any, ...] | None:
    """Requests with equal keys concatenate along axis 0; None when the request's inputs disagree on rows."""
    parts: list[Any] = [request.output_names]
    for name in sorted(request.feeds):
        array = request.feeds[name]
        if array.ndim == 0 or array.shape[0] != request.rows:
            return None
        parts.append((name, array.dtype.str, array.shape[1:]))
    return tuple(parts)


def group(
    requests: Sequence[tuple[int, InferenceRequest]], can_batch: bool
) -> list[list[tuple[int, InferenceRequest]]]:
    """``(index, request)`` pairs grouped by batch key, in order of first appearance; a request that cannot
    batch (``can_batch`` false, or no key) is a group of its own."""
    groups: dict[Any, list[tuple[int, InferenceRequest]]] = {}
    for index, request in requests:
        key = batch_key(request) if can_batch else None
        groups.setdefault(key if key is not None else ("single", index), []).append((index, request))
    return list(groups.values())


def concat_feeds(requests: Sequence[InferenceRequest]) -> dict[str, np.ndarray]:
    names = requests[0].feeds.keys()
    return {name: np.concatenate([request.feeds[name] for request in requests], axis=0) for name in names}


def split_rows(values: Sequence[Any], rows: Sequence[int]) -> list[list[Any]] | None:
    """Split batched outputs back per request; None when an output's first dim is not the total rows."""
    total = sum(rows)
    for value in values:
        if isinstance(value, np.ndarray):
            if value.ndim == 0 or value.shape[0] != total:
                return None
        elif not isinstance(value, list) or len(value) != total:
            return None
    parts: list[list[Any]] = []
    start = 0
    for count in rows:
        parts.append([value[start : start + count] for value in values])
        start += count
    return parts
