"""Images: encoded bytes (JPEG, PNG, anything Pillow reads) → the model's image input.

Each image is decoded (a truncated or unknown file is a 400, one over ``MAX_PIXELS`` a 413 before it is
decoded), converted to the input's channels (L or RGB), resized to the input's height and width (bilinear),
scaled (`scale`, default 1/255), normalized with `mean`/`std` per channel, and laid out NCHW or NHWC as the
signature says. Pillow comes from the model's processing layer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..codec import RequestError
from ..signature import TensorSpec
from .spec import ImageSpec, image_layout

MAX_PIXELS = 40_000_000  # an image larger than this is refused before it is decoded


class ImageProcessor:
    def __init__(self, spec: ImageSpec, inputs: Sequence[TensorSpec]) -> None:
        from PIL import Image  # the processing layer's; only image models import it

        self._image = Image
        self.layout = image_layout(spec, inputs)
        channels = self.layout.channels
        mean = np.resize(np.asarray(spec.mean, dtype=np.float32), channels)
        std = np.resize(np.asarray(spec.std, dtype=np.float32), channels)
        # (pixel * scale - mean) / std as one multiply-add over the pixels, in place
        self.gain = (float(spec.scale) / std).astype(np.float32)
        self.offset = (-mean / std).astype(np.float32)

    def feeds(self, images: Sequence[Any]) -> dict[str, np.ndarray]:
        layout = self.layout
        if not layout.batched and len(images) != 1:
            raise RequestError(
                f"{len(images)} images; this model's input takes one image per request",
                field="image",
                expected="one image",
            )
        arrays = [self._pixels(index, data) for index, data in enumerate(images)]
        batch = np.stack(arrays)
        if layout.channels_first:
            batch = batch.transpose(0, 3, 1, 2)
        if not layout.batched:
            batch = batch[0]
        return {layout.input.name: batch.astype(np.dtype(layout.input.dtype))}

    def _pixels(self, index: int, data: Any) -> np.ndarray:
        """One image as float32 [H, W, C], scaled and normalized."""
        if not isinstance(data, bytes | bytearray) or not data:
            raise RequestError(
                f"image {index} is empty or not bytes", field="image", expected="an encoded image (PNG, JPEG)"
            )
        Image = self._image
        try:
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise RequestError(
                        f"image {index} is {width}×{height} pixels; at most {MAX_PIXELS:,} are taken",
                        status=413,
                        field="image",
                    )
                opened.load()
                mode = "L" if self.layout.channels == 1 else "RGB"
                height_, width_ = self.layout.size
                resized = opened.convert(mode).resize((width_, height_), Image.Resampling.BILINEAR)
        except RequestError:
            raise
        except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
            raise RequestError(
                f"image {index} cannot be decoded: {str(exc)[:200]}",
                field="image",
                expected="a complete PNG, JPEG or other image Pillow reads",
            ) from exc
        pixels = np.array(resized, dtype=np.float32)  # a writable copy
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        pixels *= self.gain
        pixels += self.offset
        return pixels
