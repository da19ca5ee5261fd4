"""Tensor signatures: names, dtypes and shapes (with symbolic dims) of a model's inputs and outputs.

Pure data, no side effects. Shared by the handler (request validation) and the CLI (model intake).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# onnxruntime's type strings ("tensor(float)") → numpy dtype name.
ORT_TYPE_TO_DTYPE: Mapping[str, str] = {
    "tensor(float)": "float32",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(uint16)": "uint16",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(string)": "string",
    "tensor(bool)": "bool",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
}

# numpy dtype name ↔ Open Inference Protocol v2 datatype.
DTYPE_TO_OIP: Mapping[str, str] = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "string": "BYTES",
}
OIP_TO_DTYPE: Mapping[str, str] = {v: k for k, v in DTYPE_TO_OIP.items()}

Dim = int | str | None  # fixed size, symbolic name, or unknown


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: `shape` holds ints for fixed dims and str/None for symbolic or unknown ones."""

    name: str
    dtype: str
    shape: tuple[Dim, ...] | None  # None: rank unknown

    @property
    def oip_datatype(self) -> str:
        return DTYPE_TO_OIP.get(self.dtype, self.dtype.upper())

    def shape_text(self) -> str:
        if self.shape is None:
            return "[?]"
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def accepts_shape(self, shape: Sequence[int]) -> bool:
        if self.shape is None:
            return True
        if len(shape) != len(self.shape):
            return False
        return all(
            not isinstance(want, int) or want == got for want, got in zip(self.shape, shape, strict=True)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "datatype": self.oip_datatype,
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TensorSpec:
        shape = data.get("shape")
        return cls(
            name=str(data["name"]), dtype=str(data["dtype"]), shape=None if shape is None else tuple(shape)
        )


def specs_from_ort(nodes: Iterable[Any]) -> tuple[TensorSpec, ...]:
    """TensorSpecs from onnxruntime's `session.get_inputs()` / `get_outputs()` NodeArgs.

    Non-tensor outputs (sequence/map, as scikit-learn classifiers' probabilities) keep their ORT type string.
    """
    specs = []
    for node in nodes:
        dtype = ORT_TYPE_TO_DTYPE.get(node.type, node.type)
        shape = node.shape
        dims: tuple[Dim, ...] | None = None
        if shape is not None:
            dims = tuple(
                d if isinstance(d, int) and d >= 0 else (d if isinstance(d, str) else None) for d in shape
            )
        specs.append(TensorSpec(name=node.name, dtype=dtype, shape=dims))
    return tuple(specs)
