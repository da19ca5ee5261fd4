"""Sample inputs: read a .npz / .npy / .json file into arrays that match a model's signature, or generate them.

The same samples feed the push-time smoke check, compression calibration and the drift baseline.
Reads the file it is given; writes nothing.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sls_inference.signature import TensorSpec

from ..core.errors import SampleError


@dataclass(frozen=True)
class Samples:
    arrays: Mapping[str, np.ndarray]
    source: str  # the file, or "generated"
    rows: int

    @property
    def generated(self) -> bool:
        return self.source == "generated"


def sample_rows(samples: Samples) -> int:
    """Rows of the samples: the longest first axis among the non-scalar inputs (an input such as a
    recurrent state [layers, rows, width] or a scalar sample rate does not count its own way)."""
    return max((a.shape[0] for a in samples.arrays.values() if a.ndim >= 1), default=1)


def batchable_rows(samples: Samples) -> int | None:
    """The row count when every input has the rows along its first axis (so rows can be taken apart)."""
    rows = sample_rows(samples)
    if rows > 1 and all(a.ndim >= 1 and a.shape[0] == rows for a in samples.arrays.values()):
        return rows
    return None


def _numpy_dtype(spec: TensorSpec) -> np.dtype:
    return np.dtype(object) if spec.dtype == "string" else np.dtype(spec.dtype)


def _conform(name: str, array: np.ndarray, spec: TensorSpec, source: str) -> np.ndarray:
    want = _numpy_dtype(spec)
    if spec.dtype != "string" and array.dtype != want:
        if array.dtype.kind in "fiub" and not (array.dtype.kind == "f" and want.kind in "iub"):
            array = array.astype(want)
        else:
            raise SampleError(
                f"{source}: sample '{name}' has dtype {array.dtype}, the model expects {spec.dtype}",
                f"save the samples as {spec.dtype}",
            )
    if not spec.accepts_shape(array.shape):
        raise SampleError(
            f"{source}: sample '{name}' has shape {list(array.shape)}, the model expects {spec.shape_text()}",
            "stack samples along the first (batch) axis with the model's other dimensions",
        )
    return array


def _from_json(path: Path, specs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    from sls_inference.codec import RequestError, decode_request

    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SampleError(f"{path} is not valid JSON: {exc}", "write the samples as a request body") from exc
    try:
        return dict(decode_request(body, specs, ()).feeds)
    except RequestError as exc:
        raise SampleError(
            f"{path}: {exc.message}",
            "write the samples in a request format sls-deploy accepts "
            '(Open Inference Protocol v2 or {"instances": [...]})',
        ) from exc


def load_samples(path: str | Path, specs: tuple[TensorSpec, ...]) -> Samples:
    """Read samples for the model inputs `specs`. Keys/names must match the model's input names."""
    sample_path = Path(path)
    if not sample_path.is_file():
        raise SampleError(f"sample file {sample_path} does not exist", "check the path given to --sample")
    suffix = sample_path.suffix.lower()
    raw: dict[str, np.ndarray]
    try:
        if suffix == ".npz":
            with np.load(sample_path, allow_pickle=False) as npz:
                raw = {key: npz[key] for key in npz.files}
        elif suffix == ".npy":
            raw = {"": np.load(sample_path, allow_pickle=False)}
        elif suffix == ".json":
            raw = _from_json(sample_path, specs)
        else:
            raise SampleError(
                f"{sample_path}: unknown sample format {suffix or '(no suffix)'}",
                "use .npz (one array per input name), .npy (single-input models) or .json",
            )
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise SampleError(
            f"{sample_path} cannot be read as {suffix}: {exc}", "re-save it with numpy"
        ) from exc
    if len(specs) == 1 and len(raw) == 1:
        raw = {specs[0].name: next(iter(raw.values()))}
    names = {spec.name for spec in specs}
    missing = [n for n in names if n not in raw]
    unknown = [n for n in raw if n not in names]
    if missing or unknown:
        raise SampleError(
            f"{sample_path}: sample names {sorted(raw)} do not match the model inputs {sorted(names)}",
            "name each array after the model input it feeds (np.savez(path, **{name: array}))",
        )
    arrays = {spec.name: _conform(spec.name, raw[spec.name], spec, str(sample_path)) for spec in specs}
    rows = {a.shape[0] if a.ndim else 1 for a in arrays.values()}
    return Samples(arrays=arrays, source=str(sample_path), rows=min(rows))


def generate_samples(specs: tuple[TensorSpec, ...], rows: int = 8, seed: int = 0) -> Samples:
    """Random inputs from the signature (symbolic dims → `rows` for the first axis, 1 elsewhere)."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for spec in specs:
        dims = spec.shape if spec.shape is not None else (None,)
        shape = tuple(d if isinstance(d, int) else (rows if i == 0 else 1) for i, d in enumerate(dims))
        dtype = _numpy_dtype(spec)
        if spec.dtype == "string":
            arrays[spec.name] = np.array(["sample"] * int(np.prod(shape)), dtype=object).reshape(shape)
        elif dtype.kind == "b":
            arrays[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        elif dtype.kind in "iu":
            arrays[spec.name] = rng.integers(0, 10, size=shape).astype(dtype)
        else:
            arrays[spec.name] = rng.standard_normal(size=shape).astype(dtype)
    first = next(iter(arrays.values()), np.zeros((rows,)))
    return Samples(arrays=arrays, source="generated", rows=first.shape[0] if first.ndim else 1)
