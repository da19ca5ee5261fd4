"""Models and files for the processing tests: a real WordPiece tokenizer.json built with the `tokenizers`
library, a token-embedding "encoder" and a small image classifier as ONNX graphs, PNG/JPEG images made with
Pillow, and the reference computations (tokenize + onnxruntime + pooling; decode + resize + normalize +
onnxruntime) the tests compare the function's answers with. Writes only under the given folders."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper, numpy_helper
from PIL import Image
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "ran",
    "fast",
    "slow",
    "red",
    "blue",
    "model",
    "cloud",
    "lambda",
    "serves",
    "text",
    "image",
]
HIDDEN = 16
DIGIT_LABELS = [f"digit-{i}" for i in range(10)]


def write_tokenizer(path: Path) -> Path:
    """A BERT-style WordPiece tokenizer.json: lower-casing, [CLS] … [SEP], token type ids, max length 32."""
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS, "##s", "##ing"])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.enable_truncation(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return path


def token_encoder(vocab_size: int = len(WORDS) + 6, seed: int = 0) -> onnx.ModelProto:
    """input_ids, attention_mask, token_type_ids [batch, seq] → last_hidden_state [batch, seq, HIDDEN]:
    token embedding + type embedding, scaled per position by the mask (so padding changes nothing)."""
    rng = np.random.default_rng(seed)
    words = numpy_helper.from_array(rng.normal(size=(vocab_size, HIDDEN)).astype(np.float32), "words")
    types = numpy_helper.from_array(rng.normal(size=(2, HIDDEN)).astype(np.float32), "types")
    nodes = [
        helper.make_node("Gather", ["words", "input_ids"], ["w"]),
        helper.make_node("Gather", ["types", "token_type_ids"], ["t"]),
        helper.make_node("Add", ["w", "t"], ["wt"]),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=T.FLOAT),
        helper.make_node("Unsqueeze", ["m", "axis"], ["m3"]),
        helper.make_node("Mul", ["wt", "m3"], ["last_hidden_state"]),
    ]
    axis = numpy_helper.from_array(np.array([2], dtype=np.int64), "axis")
    graph = helper.make_graph(
        nodes,
        "encoder",
        [helper.make_tensor_value_info(n, T.INT64, ["batch", "seq"]) for n in TEXT_INPUT_NAMES],
        [helper.make_tensor_value_info("last_hidden_state", T.FLOAT, ["batch", "seq", HIDDEN])],
        [words, types, axis],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


TEXT_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def reference_embedding(model: Path, tokenizer: Path, texts: list[str]) -> np.ndarray:
    """Tokenize, run, mean-pool over the mask and L2-normalize, directly (what the function must answer)."""
    tok = Tokenizer.from_file(str(tokenizer))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tok.encode_batch(texts)
    feeds = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    (hidden,) = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, feeds)
    mask = feeds["attention_mask"][:, :, None].astype(np.float32)
    pooled = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def image_classifier(seed: int = 0) -> onnx.ModelProto:
    """image [batch, 1, 8, 8] float → probabilities [batch, 10] (Flatten → Gemm → Softmax)."""
    rng = np.random.default_rng(seed)
    weights = numpy_helper.from_array(rng.normal(size=(64, 10)).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.normal(size=(10,)).astype(np.float32), "B")
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("image", T.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("probabilities", T.FLOAT, ["batch", 10])],
        [weights, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def digit_image(seed: int, size: int = 32, fmt: str = "PNG") -> bytes:
    """A grey image of `size`×`size` pixels, encoded as `fmt`."""
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size, size)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format=fmt)
    return buffer.getvalue()


def reference_label(model: Path, image: bytes, mean: float = 0.5, std: float = 0.25) -> str:
    """Decode, resize to 8×8 (bilinear), scale to 0-1, normalize, run: the best label's name."""
    with Image.open(io.BytesIO(image)) as opened:
        pixels = np.asarray(opened.convert("L").resize((8, 8), Image.Resampling.BILINEAR), dtype=np.float32)
    feed = ((pixels / 255.0 - mean) / std)[None, None, :, :].astype(np.float32)
    (probabilities,) = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {"image": feed}
    )
    return DIGIT_LABELS[int(np.argmax(probabilities[0]))]


def write_labels(path: Path, labels: list[str] = DIGIT_LABELS) -> Path:
    path.write_text(json.dumps(labels), encoding="utf-8")
    return path


def export_tiny_bert(path: Path, vocab_size: int = len(WORDS) + 6, hidden: int = 32) -> Path:
    """A BERT-style encoder (token + type + position embeddings, 2 transformer layers, random weights) exported
    with torch: input_ids, attention_mask, token_type_ids [batch, seq] → last_hidden_state [batch, seq, hidden]."""
    import torch

    class Block(torch.nn.Module):
        """Self-attention over the unmasked tokens, then a feed-forward layer, each with a residual + LayerNorm."""

        def __init__(self) -> None:
            super().__init__()
            self.qkv = torch.nn.Linear(hidden, 3 * hidden)
            self.ff = torch.nn.Sequential(
                torch.nn.Linear(hidden, 4 * hidden), torch.nn.GELU(), torch.nn.Linear(4 * hidden, hidden)
            )
            self.norm1, self.norm2 = torch.nn.LayerNorm(hidden), torch.nn.LayerNorm(hidden)

        def forward(self, x, mask):  # type: ignore[no-untyped-def]
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            scores = q @ k.transpose(1, 2) / hidden**0.5 + (1.0 - mask[:, None, :]) * -1e4
            x = self.norm1(x + torch.softmax(scores, dim=-1) @ v)
            return self.norm2(x + self.ff(x))

    class TinyBert(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words = torch.nn.Embedding(vocab_size, hidden)
            self.types = torch.nn.Embedding(2, hidden)
            self.positions = torch.nn.Embedding(64, hidden)
            self.blocks = torch.nn.ModuleList([Block(), Block()])

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            positions = torch.cumsum(torch.ones_like(input_ids), dim=1) - 1
            x = self.words(input_ids) + self.types(token_type_ids) + self.positions(positions)
            mask = attention_mask.to(torch.float32)
            for block in self.blocks:
                x = block(x, mask)
            return x

    torch.manual_seed(0)
    model = TinyBert().eval()
    # batch 2 and seq 5 in the example, so the trace keeps both dims symbolic (a 1 would be folded in)
    ids = torch.tensor([[2, 4, 5, 6, 3], [2, 7, 3, 0, 0]])
    example = (ids, (ids != 0).to(torch.int64), torch.zeros(2, 5, dtype=torch.int64))
    axes = {name: {0: "batch", 1: "seq"} for name in TEXT_INPUT_NAMES}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=list(TEXT_INPUT_NAMES),
            output_names=["last_hidden_state"],
            dynamic_axes={**axes, "last_hidden_state": {0: "batch", 1: "seq"}},
            opset_version=17,
            dynamo=False,
        )
    return path
