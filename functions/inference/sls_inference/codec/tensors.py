"""JSON values ↔ numpy tensors, shared by every request format: the decoded ``InferenceRequest``, building
feeds from JSON (kinds, ranges, NaN, shapes against the signature) and encoding outputs back to JSON.

Values: JSON numbers are accepted for float inputs (ints too), only integers for int inputs (range-checked),
only true/false for BOOL and only strings for BYTES (string) inputs. NaN/Infinity in float inputs (Python's
json parses the ``NaN`` token) are rejected unless the model's manifest sets ``"allow_nan": true``.
Non-finite output floats are encoded as JSON ``null`` so that every response is valid JSON; non-tensor outputs
(e.g. scikit-learn ZipMap's sequence of maps) as lists of objects with string keys. Pure, no I/O; every client
mistake raises RequestError (400).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..signature import DTYPE_TO_OIP, TensorSpec
from .errors import RequestError

_NUMERIC_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}
_KIND_WORDS = {
    "f": "numbers",
    "i": "integers",
    "u": "non-negative integers",
    "b": "true/false values",
    "U": "strings",
}


@dataclass(frozen=True)
class InferenceRequest:
    """A decoded request: feeds ready for ``session.run`` plus what the response needs."""

    style: str  # "oip" | "instances" | "columnar" | "columnar_list"
    feeds: Mapping[str, np.ndarray]
    output_names: tuple[str, ...] | None  # OIP "outputs" selection; None: all outputs
    rows: int  # size of the first dim of the first input (1 for scalars)
    id: str | None = None


def finish_request(
    style: str,
    feeds: dict[str, np.ndarray],
    inputs: Sequence[TensorSpec],
    output_names: tuple[str, ...] | None,
    request_id: str | None,
) -> InferenceRequest:
    """The request of ``style`` over ``feeds``, once inputs sharing a symbolic dim agree on its size."""
    check_symbolic_dims(feeds, inputs)
    first = feeds[inputs[0].name] if inputs else None
    rows = int(first.shape[0]) if first is not None and first.ndim else 1
    return InferenceRequest(style=style, feeds=feeds, output_names=output_names, rows=rows, id=request_id)


def check_names(given: Sequence[str], inputs: Sequence[TensorSpec], field: str) -> None:
    """``given`` must name exactly the model's inputs: the first unknown, then the first missing, is a 400."""
    known = [spec.name for spec in inputs]
    unknown = [name for name in given if name not in known]
    if unknown:
        raise RequestError(
            f"unknown input '{unknown[0]}'; the model's inputs are {signature_text(inputs)}",
            field=f"{field}.{unknown[0]}",
            expected=known,
        )
    missing = [name for name in known if name not in given]
    if missing:
        raise RequestError(
            f"missing input '{missing[0]}'; the model needs {signature_text(inputs)}",
            field=f"{field}.{missing[0]}",
            expected=known,
        )


def to_array(
    value: Any, spec: TensorSpec, field: str, allow_nan: bool = False, check_shape: bool = True
) -> np.ndarray:
    """JSON value → numpy array of ``spec``'s dtype; checks kinds, ranges, NaN and (optionally) the shape."""
    target = spec.dtype
    if target not in DTYPE_TO_OIP:
        raise RequestError(
            f"input '{spec.name}' has type {target}, which this handler cannot build from JSON",
            field=field,
            expected="a tensor input",
        )
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise RequestError(
            f"input '{spec.name}': nested lists are ragged (rows of different lengths)",
            field=field,
            expected=spec.shape_text(),
        ) from exc
    kind = array.dtype.kind
    if target == "string":
        if kind != "U" and array.size:
            raise RequestError(
                f"input '{spec.name}' expects strings (BYTES), got {_kind_text(array)}",
                field=field,
                expected="BYTES",
            )
        array = array.astype(object)
    else:
        dtype = np.dtype(target)
        if array.size and kind not in _NUMERIC_KINDS[dtype.kind]:
            raise RequestError(
                f"input '{spec.name}' expects {_KIND_WORDS[dtype.kind]} ({spec.oip_datatype}), got "
                f"{_kind_text(array)}",
                field=field,
                expected=spec.oip_datatype,
            )
        if dtype.kind in "iu" and array.size and not np.can_cast(array.dtype, dtype):
            info = np.iinfo(dtype)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                raise RequestError(
                    f"input '{spec.name}' has values out of range for {spec.oip_datatype} "
                    f"[{info.min}, {info.max}]: {low if low < info.min else high}",
                    field=field,
                    expected=f"{spec.oip_datatype} in [{info.min}, {info.max}]",
                )
        with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is reported just below
            array = array.astype(dtype, copy=False)
        if dtype.kind == "f" and not allow_nan and array.size and not np.isfinite(array).all():
            raise RequestError(
                f"input '{spec.name}' contains NaN or Infinity (or a value too large for "
                f"{spec.oip_datatype}); this model does not accept non-finite values",
                field=field,
                expected=f"finite {spec.oip_datatype} numbers",
            )
    if check_shape:
        check_shape_of(array.shape, spec, field)
    return array


def check_shape_of(shape: Sequence[int], spec: TensorSpec, field: str) -> None:
    """Rank and fixed dims of ``shape`` against ``spec``; symbolic dims accept any size."""
    if spec.shape is None or spec.accepts_shape(shape):
        return
    got = "[" + ", ".join(str(d) for d in shape) + "]"
    if len(shape) != len(spec.shape):
        raise RequestError(
            f"input '{spec.name}' has shape {got} (rank {len(shape)}) but the model expects rank "
            f"{len(spec.shape)}: {spec.shape_text()}",
            field=field,
            expected=spec.shape_text(),
        )
    axis = next(
        i
        for i, (want, have) in enumerate(zip(spec.shape, shape, strict=True))
        if isinstance(want, int) and want != have
    )
    raise RequestError(
        f"input '{spec.name}' has shape {got} but the model expects {spec.shape_text()} "
        f"(dim {axis} must be {spec.shape[axis]})",
        field=field,
        expected=spec.shape_text(),
    )


def check_symbolic_dims(feeds: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec]) -> None:
    """Inputs sharing a named symbolic dim (e.g. "batch") must agree on its size."""
    seen: dict[str, tuple[str, int]] = {}
    for spec in inputs:
        if spec.shape is None or spec.name not in feeds:
            continue
        for want, have in zip(spec.shape, feeds[spec.name].shape, strict=False):
            if not isinstance(want, str) or not want:
                continue
            if want in seen and seen[want][1] != have:
                other, size = seen[want]
                raise RequestError(
                    f"inputs '{other}' and '{spec.name}' share dim '{want}' but have sizes {size} and {have}",
                    field=f"inputs.{spec.name}",
                    expected=f"{want} = {size}",
                )
            seen.setdefault(want, (spec.name, int(have)))


def to_json_value(value: Any) -> Any:
    """numpy arrays / ORT sequences and maps → plain JSON values; non-finite floats become None (null)."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind == "f":
            finite = np.isfinite(value)
            if not finite.all():
                cleaned = value.astype(object)
                cleaned[~finite] = None
                return cleaned.tolist()
            return value.tolist()
        if kind in "OS":
            return to_json_value(value.tolist())
        return value.tolist()
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def signature_text(inputs: Sequence[TensorSpec]) -> str:
    """The inputs as error messages name them: ``name DATATYPE [shape]``, comma-separated."""
    return ", ".join(f"{spec.name} {spec.oip_datatype} {spec.shape_text()}" for spec in inputs)


def json_type(value: Any) -> str:
    """What kind of JSON value ``value`` is, as error messages say it ("an object", "a list", ...)."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _kind_text(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind == "O":
        return "null, objects or mixed values"
    if kind == "f":
        return "NaN values" if np.isnan(array).any() else "non-integer numbers"
    return {"i": "integers", "u": "integers", "b": "true/false values", "U": "strings"}.get(
        kind, str(array.dtype)
    )
