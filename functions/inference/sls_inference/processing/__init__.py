"""Pre- and post-processing that travel with the model: requests people send (text, images, JSON for a custom
hook) → the model's feeds, and its outputs → answers (labels, pooled embeddings, the hook's response).

``Processor.for_model`` reads model.json's "processing" entry (see ``spec``) and builds the parts it names:
``text`` (a tokenizer), ``image`` (decode, resize, normalize), ``labels`` and ``custom`` (the user's module).
The data plane calls ``decode`` before the run and ``encode`` after it; a model without a spec has no
Processor and takes tensors as before.

Requests a text or image model takes (any of):

    {"text": "…"} / {"text": ["…", "…"]}            {"image": "<base64>"} / {"image": [...]}
    {"instances": ["…", "…"]}                        {"instances": [{"b64": "<base64>"}, ...]}
    {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [n], "data": ["…"]}]}   (OIP v2; base64 or
                                                     binary data for images)
    a raw body (function URL or OIP route) with content-type image/* (images) or text/plain (text)

The OIP form is answered in OIP v2, the others as TF-Serving's {"predictions": [...]}.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..codec import InferenceRequest, RequestError, encode_response
from ..loader import LoadedModel
from ..signature import TensorSpec
from .custom import BadRequest, CustomProcessor, HookError
from .spec import ProcessingSpec, SpecError, check

__all__ = ["BadRequest", "HookError", "Processor", "RawBody", "SpecError"]


@dataclass(frozen=True)
class RawBody:
    """An HTTP body that is not JSON (an image upload, plain text): its bytes and content type, and the style
    its answer takes ("oip" on the OIP infer route, "instances" on the function URL)."""

    data: bytes
    content_type: str
    style: str = "instances"


class Processor:
    """The processing of one model, built from its spec at init (SpecError when it does not fit)."""

    def __init__(self, spec: ProcessingSpec, model: LoadedModel, *, hooks: bool = True) -> None:
        check(spec, model.inputs, model.outputs)
        model_dir = model.path
        self.spec = spec
        self.custom = (
            CustomProcessor(spec.handler, model_dir, model.inputs)
            if spec.handler is not None and hooks
            else None
        )
        self.text: Any = None
        self.image: Any = None
        self.labels: Any = None
        if spec.text is not None:
            from .text import TextProcessor

            self.text = TextProcessor(spec.text, model_dir, model.inputs)
        if spec.image is not None:
            from .image import ImageProcessor

            self.image = ImageProcessor(spec.image, model.inputs)
        if spec.labels is not None:
            from .labels import LabelsProcessor

            self.labels = LabelsProcessor(spec.labels, model_dir, model.outputs)

    @classmethod
    def for_model(cls, model: LoadedModel, *, hooks: bool = True) -> Processor | None:
        """The model's processing (None: it has none). `hooks=False` leaves a custom handler's module
        unimported: the build checks the rest where the handler's own requirements are not installed."""
        data = model.manifest.get("processing")
        if data is None:
            return None
        spec = ProcessingSpec.from_json(data)
        return None if spec.empty else cls(spec, model, hooks=hooks)

    @property
    def kind(self) -> str | None:
        """What the model's requests carry: "text", "image", or None (tensors, or JSON for a custom hook)."""
        return "text" if self.text is not None else "image" if self.image is not None else None

    def decode(self, payload: Any, decode_tensors: Callable[[Any], InferenceRequest]) -> InferenceRequest:
        """The request's feeds: the custom hook's, the tokenizer's, the image input's, or (tensors)
        `decode_tensors`'. RequestError (4xx) for what the client must fix."""
        if self.custom is not None and self.custom.has_preprocess:
            feeds = self.custom.preprocess(payload.data if isinstance(payload, RawBody) else payload)
            return _request(_style_of(payload), feeds, None)
        kind = self.kind
        if kind is None:
            if isinstance(payload, RawBody):
                raise _unsupported_body(payload)
            return decode_tensors(payload)
        values, style, request_id = _items(payload, kind)
        feeds = self.text.feeds(values) if kind == "text" else self.image.feeds(values)
        return _request(style, feeds, request_id)

    def encode(
        self,
        request: InferenceRequest,
        specs: list[TensorSpec],
        values: list[Any],
        payload: Any,
        model_name: str,
        model_version: str,
    ) -> Any:
        """The answer to `request` from the run's outputs, post-processed."""
        if self.text is not None:
            specs, values = self.text.postprocess(specs, values, dict(request.feeds))
        if self.labels is not None:
            specs, values = self.labels.postprocess(specs, values)
        if self.custom is not None and self.custom.has_postprocess:
            return self.custom.postprocess(
                specs, values, payload.data if isinstance(payload, RawBody) else payload
            )
        return encode_response(request, specs, values, model_name, model_version)


def _request(style: str, feeds: dict[str, np.ndarray], request_id: str | None) -> InferenceRequest:
    first = next(iter(feeds.values()), None)
    rows = int(first.shape[0]) if first is not None and first.ndim else 1
    return InferenceRequest(style=style, feeds=feeds, output_names=None, rows=rows, id=request_id)


def _style_of(payload: Any) -> str:
    if isinstance(payload, RawBody):
        return payload.style
    return "oip" if isinstance(payload, dict) and isinstance(payload.get("inputs"), list) else "instances"


def _unsupported_body(body: RawBody) -> RequestError:
    return RequestError(
        f"a {body.content_type or 'non-JSON'} body is not taken here: this model takes JSON tensors",
        status=415,
        field="content-type",
        expected="application/json",
    )


def _items(payload: Any, kind: str) -> tuple[list[Any], str, str | None]:
    """The texts or images of a request, the style its answer takes, and its OIP id."""
    if isinstance(payload, RawBody):
        return [_raw_item(payload, kind)], payload.style, None
    expected = f'{{"{kind}": ...}}, {{"instances": [...]}} or an OIP v2 BYTES tensor'
    if not isinstance(payload, dict):
        raise RequestError("request must be a JSON object", field="body", expected=expected)
    if kind in payload:
        given = payload[kind]
        values, style, request_id = (given if isinstance(given, list) else [given]), "instances", None
    elif "instances" in payload:
        values, style, request_id = payload["instances"], "instances", None
    elif isinstance(payload.get("inputs"), list):
        values, style, request_id = _oip_values(payload, kind), "oip", payload.get("id")
    else:
        raise RequestError(f"this model takes {kind}", field="body", expected=expected)
    if not isinstance(values, list) or not values:
        raise RequestError(f"no {kind} in the request", field=kind, expected=expected)
    if kind == "image":
        values = [_image_bytes(index, value) for index, value in enumerate(values)]
    return values, style, None if request_id is None else str(request_id)


def _raw_item(body: RawBody, kind: str) -> Any:
    content_type = body.content_type.split(";")[0].strip().lower()
    if kind == "image" and (
        content_type.startswith("image/") or content_type in ("", "application/octet-stream")
    ):
        return body.data
    if kind == "text" and content_type.startswith("text/"):
        try:
            return body.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError("the text body is not UTF-8", field="body") from exc
    expected = "image/png, image/jpeg, … (or JSON)" if kind == "image" else "text/plain (or JSON)"
    raise RequestError(
        f"a {content_type or 'untyped'} body is not taken by this {kind} model",
        status=415,
        field="content-type",
        expected=expected,
    )


def _oip_values(payload: dict[str, Any], kind: str) -> list[Any]:
    tensors = payload["inputs"]
    if len(tensors) != 1 or not isinstance(tensors[0], dict):
        raise RequestError(
            f"this {kind} model takes one BYTES input tensor, got {len(tensors)}",
            field="inputs",
            expected=f'[{{"name": "{kind}", "datatype": "BYTES", "shape": [n], "data": [...]}}]',
        )
    tensor = tensors[0]
    if tensor.get("datatype") != "BYTES":
        raise RequestError(
            f"input {tensor.get('name')!r} is {tensor.get('datatype')}; this {kind} model takes BYTES",
            field="inputs[0].datatype",
            expected="BYTES",
        )
    data = tensor.get("data")
    flat: list[Any] = []
    _flatten(data, flat)
    return flat


def _flatten(value: Any, into: list[Any]) -> None:
    if isinstance(value, list):
        for item in value:
            _flatten(item, into)
    else:
        into.append(value)


def _image_bytes(index: int, value: Any) -> bytes:
    """One image of a JSON request: bytes (binary tensors), base64 text, or TF-Serving's {"b64": "…"}."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, dict) and set(value) == {"b64"}:
        value = value["b64"]
    if not isinstance(value, str):
        raise RequestError(
            f"image {index} is {type(value).__name__}; images are sent base64-encoded",
            field="image",
            expected='"<base64>" or {"b64": "<base64>"}',
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(f"image {index} is not valid base64", field="image") from exc
