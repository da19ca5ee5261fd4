"""The processing spec: how a model's requests are turned into its inputs and its outputs into answers.

It lives in model.json under "processing" (format ``PROCESSING_VERSION``), with the files it names beside
model.json in the model folder (tokenizer.json, labels.json, handler/). `sls-deploy push` writes it from its
flags and checks it with ``check`` against the model's signature; the function reads it at init and checks it
the same way, so what was validated is what runs. Pure data; no I/O.

    {"version": 1,
     "labels":  {"file": "labels.json", "top_k": 1, "output": "probabilities"},
     "text":    {"tokenizer": "tokenizer.json", "max_length": 128, "truncation": "truncate",
                 "pooling": "mean", "normalize": true},
     "image":   {"size": [224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                 "scale": 0.00392156862745098},
     "handler": {"module": "handler/handler.py"}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..signature import TensorSpec

PROCESSING_VERSION = 1
TRUNCATION_MODES = ("truncate", "error")
POOLING_MODES = ("mean", "cls", "none")
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
FLOAT_DTYPES = ("float16", "float32", "float64")


class SpecError(ValueError):
    """A processing spec that is malformed or does not fit the model's signature."""


@dataclass(frozen=True)
class LabelsSpec:
    file: str = "labels.json"
    top_k: int = 1
    output: str | None = None  # the output the labels name the columns of (None: the one whose width fits)


@dataclass(frozen=True)
class TextSpec:
    tokenizer: str = "tokenizer.json"
    max_length: int | None = None  # None: the input's fixed length, else the tokenizer's, else 512
    truncation: str = "truncate"
    pooling: str = "none"
    normalize: bool = False  # L2-normalize the pooled vector


@dataclass(frozen=True)
class ImageSpec:
    size: tuple[int, int] | None = None  # (height, width); None: from the input's fixed dims
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    scale: float = 1.0 / 255.0  # applied to the 0-255 pixel values before mean/std


@dataclass(frozen=True)
class HandlerSpec:
    module: str = "handler/handler.py"  # relative to the model folder


@dataclass(frozen=True)
class ProcessingSpec:
    labels: LabelsSpec | None = None
    text: TextSpec | None = None
    image: ImageSpec | None = None
    handler: HandlerSpec | None = None
    version: int = PROCESSING_VERSION

    @property
    def empty(self) -> bool:
        return not (self.labels or self.text or self.image or self.handler)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": self.version}
        for key in ("labels", "text", "image", "handler"):
            part = getattr(self, key)
            if part is not None:
                data[key] = {
                    k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(part).items()
                }
        return data

    @classmethod
    def from_json(cls, data: Any) -> ProcessingSpec:
        """The spec of model.json's "processing" entry; SpecError naming the field when it is malformed."""
        if not isinstance(data, Mapping):
            raise SpecError("processing must be an object")
        version = data.get("version")
        if version != PROCESSING_VERSION:
            raise SpecError(
                f"processing version {version!r} is not supported (this code reads {PROCESSING_VERSION})"
            )
        unknown = set(data) - {"version", "labels", "text", "image", "handler"}
        if unknown:
            raise SpecError(f"processing has unknown entries: {', '.join(sorted(unknown))}")
        return cls(
            labels=_part(LabelsSpec, data.get("labels"), "labels"),
            text=_part(TextSpec, data.get("text"), "text"),
            image=_part(ImageSpec, data.get("image"), "image"),
            handler=_part(HandlerSpec, data.get("handler"), "handler"),
        )


def _part(kind: Any, data: Any, name: str) -> Any:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise SpecError(f"processing.{name} must be an object")
    fields = {f.name for f in dataclasses.fields(kind)}
    unknown = set(data) - fields
    if unknown:
        raise SpecError(f"processing.{name} has unknown entries: {', '.join(sorted(unknown))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        return kind(**values)
    except TypeError as exc:
        raise SpecError(f"processing.{name}: {exc}") from exc


def check(spec: ProcessingSpec, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> None:
    """SpecError when `spec` does not fit a model with this signature (what the push refuses)."""
    if spec.text is not None and spec.image is not None:
        raise SpecError("a model takes text or images, not both: give a tokenizer or an image spec")
    if spec.text is not None:
        _check_text(spec.text, inputs)
    if spec.image is not None:
        image_layout(spec.image, inputs)
    if spec.labels is not None and spec.labels.top_k < 1:
        raise SpecError(f"top_k must be at least 1, got {spec.labels.top_k}")


def _check_text(text: TextSpec, inputs: Sequence[TensorSpec]) -> None:
    if text.truncation not in TRUNCATION_MODES:
        raise SpecError(f"truncation {text.truncation!r} is not one of {', '.join(TRUNCATION_MODES)}")
    if text.pooling not in POOLING_MODES:
        raise SpecError(f"pooling {text.pooling!r} is not one of {', '.join(POOLING_MODES)}")
    if text.max_length is not None and text.max_length < 1:
        raise SpecError(f"max_length must be at least 1, got {text.max_length}")
    names = [spec.name for spec in inputs]
    unknown = [name for name in names if text_input_role(name) is None]
    if "input_ids" not in [text_input_role(name) for name in names] or unknown:
        raise SpecError(
            f"a tokenizer fills the inputs {', '.join(TEXT_INPUTS)}; this model's inputs are {', '.join(names)}"
        )
    for spec in inputs:
        if spec.dtype not in ("int64", "int32") or (spec.shape is not None and len(spec.shape) != 2):
            raise SpecError(
                f"input {spec.name} is {spec.dtype} {list(spec.shape or [])}; token ids are 2-D int64/int32"
            )


def text_input_role(name: str) -> str | None:
    """Which tokenizer field an input named `name` takes ("input_ids", …), None if none."""
    lowered = name.lower()
    for role in TEXT_INPUTS:
        if role in lowered:
            return role
    return None


@dataclass(frozen=True)
class ImageLayout:
    """Where an image input keeps its channels and how big it is."""

    input: TensorSpec
    channels_first: bool
    channels: int
    size: tuple[int, int]  # (height, width)
    batched: bool  # 4-D [N, …]; 3-D inputs take one image


def image_layout(image: ImageSpec, inputs: Sequence[TensorSpec]) -> ImageLayout:
    """The layout of the model's one image input (NCHW or NHWC from where a 1 or 3 sits); SpecError."""
    spec = _image_input(inputs)
    assert spec.shape is not None
    dims = spec.shape[1:] if len(spec.shape) == 4 else spec.shape
    if dims[0] in (1, 3):
        channels_first, channels, hw = True, int(dims[0]), dims[1:]  # type: ignore[arg-type]
    elif dims[2] in (1, 3):
        channels_first, channels, hw = False, int(dims[2]), dims[:2]  # type: ignore[arg-type]
    else:
        raise SpecError(f"input {spec.name} {list(spec.shape)} has no channel dim of 1 or 3 (NCHW or NHWC)")
    for name, values in (("mean", image.mean), ("std", image.std)):
        if len(values) not in (1, channels):
            raise SpecError(f"{name} has {len(values)} values; the input has {channels} channel(s)")
    if any(v == 0 for v in image.std):
        raise SpecError("std must not be 0")
    size = _image_size(image, spec, hw)
    return ImageLayout(spec, channels_first, channels, size, batched=len(spec.shape) == 4)


def _image_input(inputs: Sequence[TensorSpec]) -> TensorSpec:
    if len(inputs) != 1:
        raise SpecError(f"an image spec needs a model with one input; this one has {len(inputs)}")
    spec = inputs[0]
    if spec.shape is None or len(spec.shape) not in (3, 4):
        shape = "unknown" if spec.shape is None else str(list(spec.shape))
        raise SpecError(f"input {spec.name} has shape {shape}; an image input is 3-D (C,H,W / H,W,C) or 4-D")
    if spec.dtype not in (*FLOAT_DTYPES, "uint8"):
        raise SpecError(f"input {spec.name} is {spec.dtype}; an image input is float or uint8")
    return spec


def _image_size(image: ImageSpec, spec: TensorSpec, hw: Sequence[Any]) -> tuple[int, int]:
    """(height, width): the input's fixed dims, else the spec's size."""
    if all(isinstance(d, int) for d in hw):
        size = (int(hw[0]), int(hw[1]))
        if image.size is not None and tuple(image.size) != size:
            raise SpecError(f"image size {list(image.size)} differs from the input's fixed {list(size)}")
        return size
    if image.size is None:
        shape = list(spec.shape or [])
        raise SpecError(f"input {spec.name} {shape} has no fixed height and width: give the image size")
    return (int(image.size[0]), int(image.size[1]))


def labels_output(labels: LabelsSpec, count: int, outputs: Sequence[TensorSpec]) -> TensorSpec:
    """The float output whose last dim has `count` columns (or the one `labels.output` names); SpecError."""
    widths = {
        spec.name: spec.shape[-1] if spec.shape else None for spec in outputs if spec.dtype in FLOAT_DTYPES
    }
    if labels.output is not None:
        chosen = [spec for spec in outputs if spec.name == labels.output]
        if not chosen or chosen[0].dtype not in FLOAT_DTYPES:
            raise SpecError(f"labels name output {labels.output!r}, which is not a float output of the model")
        width = widths.get(labels.output)
        if isinstance(width, int) and width != count:
            raise SpecError(f"{count} labels, but output {labels.output} has {width} columns")
        return chosen[0]
    fitting = [spec for spec in outputs if widths.get(spec.name) == count]
    open_width = [spec for spec in outputs if spec.name in widths and not isinstance(widths[spec.name], int)]
    if not fitting and len(open_width) == 1 and len(widths) == 1:
        return open_width[0]  # one float output whose width is symbolic: checked per response
    if not fitting:
        described = ", ".join(f"{name} ({width})" for name, width in widths.items()) or "none"
        raise SpecError(f"{count} labels, but no float output has {count} columns: {described}")
    return fitting[0]
