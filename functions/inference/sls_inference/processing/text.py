"""Text: strings → token ids with a Hugging Face `tokenizers` file, and an encoder's token vectors → one vector.

The tokenizer fills the inputs the signature names (input_ids, attention_mask, token_type_ids), padded to the
longest text of the request (or to the input's fixed length) and truncated to the maximum length — or refused
with a 400 under truncation "error". Pooling: "mean" averages the first output's token vectors over the
attention mask, "cls" takes the first token's, "none" keeps the outputs as they are; `normalize` then scales
the vector to unit length. The `tokenizers` package comes from the model's processing layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..codec import RequestError
from ..signature import TensorSpec
from .spec import SpecError, TextSpec, text_input_role

DEFAULT_MAX_LENGTH = 512
EMBEDDING = TensorSpec("embedding", "float32", ("N", "D"))


class TextProcessor:
    def __init__(self, spec: TextSpec, model_dir: Path, inputs: Sequence[TensorSpec]) -> None:
        from tokenizers import Tokenizer  # the processing layer's; only text models import it

        self.spec = spec
        path = model_dir / spec.tokenizer
        if not path.is_file():
            raise SpecError(f"the tokenizer file {spec.tokenizer} is not in the model folder")
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises plain Exceptions
            raise SpecError(f"{spec.tokenizer} is not a tokenizers file: {exc}") from exc
        self.inputs = [(spec_, text_input_role(spec_.name)) for spec_ in inputs]
        fixed = {s.shape[1] for s in inputs if s.shape is not None and isinstance(s.shape[1], int)}
        self.fixed_length = fixed.pop() if len(fixed) == 1 else None
        truncation = self.tokenizer.truncation or {}
        self.max_length = int(
            spec.max_length or self.fixed_length or truncation.get("max_length") or DEFAULT_MAX_LENGTH
        )
        if spec.truncation == "truncate":
            self.tokenizer.enable_truncation(self.max_length)
        else:  # "error": encode whole, refuse what is too long
            self.tokenizer.no_truncation()
        padding = self.tokenizer.padding or {}
        self.tokenizer.enable_padding(
            pad_id=int(padding.get("pad_id", 0)),
            pad_token=str(padding.get("pad_token", "[PAD]")),
            length=self.fixed_length,  # None: to the longest text of the request
        )

    def feeds(self, texts: Sequence[Any]) -> dict[str, np.ndarray]:
        """The model's feeds for `texts`; RequestError (400) for a text that is not one, empty, or too long."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise RequestError(
                    f"text {index} is {type(text).__name__}; this model takes strings",
                    field="text",
                    expected='{"text": "..."}',
                )
            if not text.strip():
                raise RequestError(f"text {index} is empty", field="text", expected="a non-empty string")
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = [sum(e.attention_mask) for e in encodings]
        if max(lengths) > self.max_length:  # only under truncation "error": "truncate" cut them already
            index = lengths.index(max(lengths))
            raise RequestError(
                f"text {index} is {lengths[index]} tokens; this model takes at most {self.max_length}",
                field="text",
                expected=f"at most {self.max_length} tokens (the function was pushed with truncation 'error')",
            )
        columns = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        return {
            spec.name: np.array(
                [getattr(e, columns[role or "input_ids"]) for e in encodings], dtype=spec.dtype
            )
            for spec, role in self.inputs
        }

    def postprocess(
        self, specs: list[TensorSpec], values: list[Any], feeds: dict[str, np.ndarray]
    ) -> tuple[list[TensorSpec], list[Any]]:
        """With pooling: the first output's token vectors pooled into "embedding" (replacing the outputs)."""
        if self.spec.pooling == "none":
            if not self.spec.normalize:
                return specs, values
            return specs, [_normalized(np.asarray(values[0], dtype=np.float32)), *values[1:]]
        tokens = np.asarray(values[0], dtype=np.float32)
        if tokens.ndim != 3:
            raise RequestError(
                f"output {specs[0].name} has shape {list(tokens.shape)}; {self.spec.pooling} pooling needs "
                "token vectors [batch, tokens, dim]",
                status=500,
            )
        if self.spec.pooling == "cls":
            pooled = tokens[:, 0, :]
        else:
            mask = next(
                (feeds[s.name] for s, role in self.inputs if role == "attention_mask"),
                (feeds[self.inputs[0][0].name] != 0).astype(np.int64),
            )
            weights = mask[:, : tokens.shape[1], None].astype(np.float32)
            pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.spec.normalize:
            pooled = _normalized(pooled)
        return [EMBEDDING], [pooled.astype(np.float32)]


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
