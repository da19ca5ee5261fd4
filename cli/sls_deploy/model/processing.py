"""The processing a push gives a model (push --labels/--tokenizer/--image-size/--handler …): its spec, checked
against the model's signature with the function's own rules, and the files it copies into the model folder.

One place defines the spec (sls_inference.processing.spec); this module only turns the command's options
into it, reads and checks the files (labels, tokenizer, handler) and writes them beside model.json, so the
function finds at init exactly what was checked here. Side effects: `write_processing` copies files into the
model folder and rewrites its model.json.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sls_inference.codec import RequestError
from sls_inference.loader import MANIFEST_NAME
from sls_inference.processing.spec import (
    HandlerSpec,
    ImageSpec,
    LabelsSpec,
    ProcessingSpec,
    SpecError,
    TextSpec,
    check,
    image_layout,
    labels_output,
)
from sls_inference.signature import TensorSpec

from ..core.errors import ModelError
from ..core.records import ProcessingRecipe
from .folder import manifest_bytes
from .samples import Samples

LABELS_FILE = "labels.json"
REQUIREMENTS_FILE = "requirements.txt"  # beside a compressed folder's model.json: the handler's requirements
TOKENIZER_FILE = "tokenizer.json"
HANDLER_DIR = "handler"
INSTALL_HINT = "install the processing extra: pip install 'sls-deploy[processing]'"


@dataclass(frozen=True)
class ProcessingOptions:
    """What the command line asked for; None/empty: not asked."""

    labels: Path | None = None
    top_k: int = 1
    tokenizer: Path | None = None
    max_length: int | None = None
    truncation: str = "truncate"
    pooling: str = "none"
    normalize: bool = False
    image_size: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    image: bool = False  # an image spec was asked for (by --image or any of the image flags)
    handler: Path | None = None
    requirements: Path | None = None

    @property
    def wants_image(self) -> bool:
        return self.image or self.image_size is not None or self.mean is not None or self.std is not None


@dataclass(frozen=True)
class Processing:
    """A checked spec and the files it brings: model-folder name → source path."""

    spec: ProcessingSpec
    files: dict[str, Path]
    requirements: Path | None  # the custom handler's third-party requirements (for the processing layer)

    @property
    def needs(self) -> tuple[str, ...]:
        """What the processing layer must hold beyond the user's requirements."""
        return tuple(kind for kind, part in (("text", self.spec.text), ("image", self.spec.image)) if part)

    @property
    def recipe(self) -> ProcessingRecipe | None:
        """What the processing layer holds; None when the function needs no package beyond the runtime's."""
        if not self.needs and self.requirements is None:
            return None
        return ProcessingRecipe(self.needs, self.requirements)

    def summary(self) -> dict[str, Any]:
        return {
            **self.spec.to_json(),
            "requirements": None if self.requirements is None else str(self.requirements),
        }


def processing_for(
    options: ProcessingOptions, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> Processing | None:
    """The checked processing for a model with this signature; None when nothing was asked.
    ModelError (with a hint) when a file is unreadable or the spec does not fit the model."""
    files: dict[str, Path] = {}
    labels = text = image = handler = None
    try:
        if options.labels is not None:
            names = read_labels_file(options.labels)
            labels = LabelsSpec(file=LABELS_FILE, top_k=options.top_k)
            labels_output(labels, len(names), outputs)
            files[LABELS_FILE] = options.labels
        if options.tokenizer is not None:
            _check_tokenizer(options.tokenizer)
            text = TextSpec(
                TOKENIZER_FILE, options.max_length, options.truncation, options.pooling, options.normalize
            )
            files[TOKENIZER_FILE] = options.tokenizer
        if options.wants_image:
            # The push decodes no image, but checks the spec the way the function runs it: with Pillow.
            _require("PIL", "Pillow")
            image = ImageSpec(size=options.image_size, mean=options.mean or (0.0,), std=options.std or (1.0,))
        if options.handler is not None:
            handler = HandlerSpec(module=f"{HANDLER_DIR}/{_handler_module(options.handler)}")
            files[HANDLER_DIR] = options.handler
        spec = ProcessingSpec(labels=labels, text=text, image=image, handler=handler)
        if spec.empty:
            if options.requirements is not None:
                raise SpecError("--requirements are for a custom --handler's imports; give --handler too")
            return None
        check(spec, inputs, outputs)
    except SpecError as exc:
        raise ModelError(f"the processing does not fit the model: {exc}", _hint(exc)) from exc
    if options.requirements is not None and not options.requirements.is_file():
        raise ModelError(f"requirements file {options.requirements} does not exist", "check the path")
    return Processing(spec, files, options.requirements)


# The function's post-processing of a run's outputs, called with the output specs, the outputs and the feeds
# they came from (the compression gate compares what clients receive).
OutputView = Callable[
    [Sequence[TensorSpec], list[Any], Mapping[str, np.ndarray]], tuple[Sequence[TensorSpec], list[Any]]
]


def output_view(processing: Processing | None, inputs: Sequence[TensorSpec]) -> OutputView | None:
    """How the function post-processes a run's outputs before it answers, for the compression gate to
    compare what clients receive: a text model's pooled (and normalized) embedding. None: the raw outputs
    are the answer (labels only name the argmax of scores the gate compares anyway)."""
    text = None if processing is None else processing.spec.text
    if processing is None or text is None or (text.pooling == "none" and not text.normalize):
        return None
    processor = _text_processor(processing, inputs)

    def view(
        specs: Sequence[TensorSpec], values: list[Any], feeds: Mapping[str, np.ndarray]
    ) -> tuple[Sequence[TensorSpec], list[Any]]:
        return processor.postprocess(list(specs), values, dict(feeds))

    return view


def processing_from_folder(
    folder: Path, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]
) -> Processing | None:
    """The processing a folder written by `compress` keeps (None: it has none), checked against the model."""
    manifest = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    if not manifest.get("processing"):
        return None
    try:
        spec = ProcessingSpec.from_json(manifest["processing"])
        check(spec, inputs, outputs)
    except SpecError as exc:
        raise ModelError(f"{folder}: its processing does not fit the model: {exc}", _hint(exc)) from exc
    files = {
        name: Path(folder) / name
        for name, part in (
            (LABELS_FILE, spec.labels),
            (TOKENIZER_FILE, spec.text),
            (HANDLER_DIR, spec.handler),
        )
        if part is not None
    }
    requirements = Path(folder) / REQUIREMENTS_FILE
    return Processing(spec, files, requirements if requirements.is_file() else None)


def _hint(exc: SpecError) -> str:
    text = str(exc)
    if "labels" in text:
        return "give one label per column of the classifier's scores (one per line, or a JSON list/map)"
    if "image" in text or "channel" in text:
        return (
            "an image spec needs one 3-D or 4-D input (NCHW or NHWC); give --image-size H,W for symbolic dims"
        )
    if "tokenizer" in text:
        return "a tokenizer fills input_ids, attention_mask and token_type_ids: check the model's inputs"
    return "see `sls-deploy push --help` for the processing options"


def read_labels_file(path: Path) -> list[str]:
    """Labels from a file: one per line, a JSON list, or a JSON map of index → name (indexes 0..n-1)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"labels file {path} cannot be read: {exc.strerror}") from exc
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise SpecError(f"labels file {path} is not valid JSON: {exc}") from exc
        if isinstance(data, dict):
            try:
                indexed = {int(k): str(v) for k, v in data.items()}
            except ValueError as exc:
                raise SpecError(f"labels file {path}: a JSON map's keys are class indexes 0..n-1") from exc
            if sorted(indexed) != list(range(len(indexed))):
                raise SpecError(f"labels file {path}: the map's keys are not 0..{len(indexed) - 1}")
            data = [indexed[i] for i in range(len(indexed))]
        if not isinstance(data, list) or not all(isinstance(x, str | int | float) for x in data):
            raise SpecError(f"labels file {path} must hold a JSON list of names")
        names = [str(x) for x in data]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise SpecError(f"labels file {path} holds no labels")
    return names


def _require(module: str, package: str) -> None:
    """ModelError naming the install command when `module` (of the processing extra) cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(f"the {package} package is not installed", INSTALL_HINT) from exc


def _check_tokenizer(path: Path) -> None:
    _require("tokenizers", "tokenizers")
    from tokenizers import Tokenizer

    if not path.is_file():
        raise SpecError(f"tokenizer file {path} does not exist")
    try:
        Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises plain Exceptions
        raise SpecError(f"{path} is not a Hugging Face tokenizer.json: {exc}") from exc


def _handler_module(path: Path) -> str:
    """The module file of a handler: the .py file itself, or a folder's handler.py."""
    if path.is_file() and path.suffix == ".py":
        return path.name
    if path.is_dir() and (path / "handler.py").is_file():
        return "handler.py"
    raise SpecError(f"the custom handler {path} is neither a .py file nor a folder holding handler.py")


def write_processing(layer_dir: Path, processing: Processing, *, with_requirements: bool = False) -> None:
    """Copy the processing's files into a model folder and record its spec in model.json; with
    `with_requirements` (a folder `compress` writes) the handler's requirements file too, for `push DIR`."""
    layer_dir = Path(layer_dir)
    if with_requirements and processing.requirements is not None:
        shutil.copyfile(processing.requirements, layer_dir / REQUIREMENTS_FILE)
    for name, source in processing.files.items():
        destination = layer_dir / name
        if name == LABELS_FILE:  # normalized to the JSON list the function reads
            labels = json.dumps(read_labels_file(source), ensure_ascii=False)
            destination.write_text(labels + "\n", encoding="utf-8")
        elif source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif name == HANDLER_DIR:  # a single handler file
            destination.mkdir()
            shutil.copyfile(source, destination / source.name)
        else:
            shutil.copyfile(source, destination)
    manifest_path = layer_dir / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["processing"] = processing.spec.to_json()
    manifest_path.write_bytes(manifest_bytes(manifest))


def check_handler_source(layer_dir: Path) -> None:
    """Compile a model folder's custom handler files (not import them: their third-party imports are in the
    processing layer, built for Lambda's platform); ModelError naming the file and line of a syntax error."""
    for path in sorted((Path(layer_dir) / HANDLER_DIR).rglob("*.py")):
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            where = f"{path.name}, line {exc.lineno}" if isinstance(exc, SyntaxError) else path.name
            raise ModelError(
                f"the custom handler does not compile ({where}): {exc}", "fix the handler file and push again"
            ) from exc


# Texts a text model is checked (and its compression measured) on when no --sample is given.
DEFAULT_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Serverless inference scales to zero when nobody calls it.",
    "A short sentence.",
    "Models turn inputs into predictions; tokenizers turn text into ids.",
    "What does this cost per million requests?",
    "Hello world",
    "An embedding is a vector that represents the meaning of a text.",
    "Lambda bills for the memory and the time a request takes.",
)
TEXT_SAMPLE_SUFFIXES = (".txt", ".jsonl", ".json", ".npz")


def _text_processor(processing: Processing, inputs: Sequence[TensorSpec]) -> Any:
    """The function's own TextProcessor, reading the tokenizer from where the push found it."""
    from sls_inference.processing.text import TextProcessor

    assert processing.spec.text is not None
    tokenizer = processing.files[TOKENIZER_FILE]
    return TextProcessor(replace(processing.spec.text, tokenizer=tokenizer.name), tokenizer.parent, inputs)


def text_samples(processing: Processing, inputs: tuple[TensorSpec, ...], sample: Path | None) -> Samples:
    """A text model's samples: the texts of `sample` (.txt one per line, .jsonl {"text": …} per line, a .json
    list or {"text": [...]}, an .npz of strings), else DEFAULT_TEXTS — tokenized by the function's own code."""
    texts = list(DEFAULT_TEXTS) if sample is None else read_texts(sample)
    try:
        feeds = _text_processor(processing, inputs).feeds(texts)
    except RequestError as exc:
        raise ModelError(
            f"the sample texts cannot be tokenized: {exc.message}", "check the sample file"
        ) from exc
    return Samples(feeds, str(sample) if sample is not None else "generated", len(texts))


SAMPLE_PHOTO_SIZE = (640, 480)  # what an image model's generated request carries: a typical resized upload


def processed_request(processing: Any, inputs: tuple[TensorSpec, ...]) -> dict[str, Any] | None:
    """The request a client of a text or image model sends, for timing (cost, tune): a built-in sentence, or
    a smooth random JPEG of SAMPLE_PHOTO_SIZE. None for a model that takes tensors. ModelError for a custom
    handler, whose requests only its author knows."""
    if not processing:
        return None
    spec = ProcessingSpec.from_json(processing)
    if spec.handler is not None:
        raise ModelError(
            "this model's requests are shaped by its custom handler: no request can be generated for it",
            "pass a request the handler takes with --payload FILE",
        )
    if spec.text is not None:
        return {"text": DEFAULT_TEXTS[3]}
    if spec.image is None:
        return None
    _require("PIL", "Pillow")
    from PIL import Image, ImageFilter

    channels = image_layout(spec.image, inputs).channels
    width, height = SAMPLE_PHOTO_SIZE
    noise = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
    photo = Image.fromarray(noise, mode="RGB").filter(ImageFilter.GaussianBlur(3))
    buffer = io.BytesIO()
    photo.convert("L" if channels == 1 else "RGB").save(buffer, format="JPEG", quality=90)
    return {"image": base64.b64encode(buffer.getvalue()).decode("ascii")}


def read_texts(path: Path) -> list[str]:
    """The texts of a sample file (see text_samples); ModelError naming the file otherwise."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                values = [str(v) for key in data.files for v in np.asarray(data[key]).reshape(-1)]
        elif suffix == ".jsonl":
            values = [
                _text_of(json.loads(line))
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            items = data.get("text", data.get("instances")) if isinstance(data, dict) else data
            values = [_text_of(item) for item in (items if isinstance(items, list) else [items])]
        else:
            values = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(
            f"sample texts {path} cannot be read: {exc}",
            'give a .txt (one text per line), .jsonl ({"text": ...} per line), .json list or .npz of strings',
        ) from exc
    if not values:
        raise ModelError(f"sample texts {path} hold no text", "give at least one non-empty line")
    return values


def _text_of(item: Any) -> str:
    text = item.get("text") if isinstance(item, dict) else item
    if not isinstance(text, str):
        raise ValueError(f"{item!r} is not a text")
    return text
