"""Push-time processing: the options become a spec checked against the model's signature with the function's
own rules (a mismatch is refused with a hint before anything is built), the labels file's three forms, the
files copied into the model folder, and text samples tokenized by the function's tokenizer code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sls_deploy.core.errors import ModelError
from sls_deploy.model.processing import (
    ProcessingOptions,
    check_handler_source,
    output_view,
    processing_for,
    processing_from_folder,
    read_labels_file,
    text_samples,
    write_processing,
)
from sls_inference.signature import TensorSpec
from tests.support.processing_models import write_tokenizer

IMAGE_INPUT = (TensorSpec("image", "float32", ("N", 1, 8, 8)),)
SCORES = (TensorSpec("probabilities", "float32", ("N", 10)),)
TABULAR = (TensorSpec("input", "float32", ("N", 64)),)
TEXT_INPUTS = tuple(TensorSpec(n, "int64", ("N", "seq")) for n in ("input_ids", "attention_mask"))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("cat\ndog\n\nbird\n", ["cat", "dog", "bird"]),
        ('["cat", "dog"]', ["cat", "dog"]),
        ('{"1": "dog", "0": "cat"}', ["cat", "dog"]),
    ],
)
def test_labels_come_one_per_line_as_a_json_list_or_as_an_index_map(tmp_path, text, names):
    path = tmp_path / "labels.txt"
    path.write_text(text, encoding="utf-8")
    assert read_labels_file(path) == names


def test_a_labels_count_that_differs_from_the_classifier_width_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(f"c{i}" for i in range(9)), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        processing_for(ProcessingOptions(labels=path), TABULAR, SCORES)
    assert "9 labels, but no float output has 9 columns: probabilities (10)" in info.value.message
    assert "one label per column" in info.value.hint


def test_an_image_spec_on_a_model_whose_input_is_not_3_or_4_d_is_refused(tmp_path):
    with pytest.raises(ModelError) as info:
        processing_for(ProcessingOptions(image=True), TABULAR, SCORES)
    assert "an image input is 3-D" in info.value.message and "NCHW or NHWC" in info.value.hint


def test_a_tokenizer_on_a_model_without_token_inputs_is_refused(tmp_path):
    tokenizer = write_tokenizer(tmp_path / "tokenizer.json")
    with pytest.raises(ModelError, match="a tokenizer fills the inputs"):
        processing_for(ProcessingOptions(tokenizer=tokenizer), TABULAR, SCORES)


def test_a_file_that_is_no_tokenizer_is_refused(tmp_path):
    bogus = tmp_path / "tokenizer.json"
    bogus.write_text('{"not": "a tokenizer"}', encoding="utf-8")
    with pytest.raises(ModelError, match="is not a Hugging Face tokenizer.json"):
        processing_for(ProcessingOptions(tokenizer=bogus), TEXT_INPUTS, SCORES)


def test_requirements_without_a_handler_are_refused(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("humanize\n", encoding="utf-8")
    with pytest.raises(ModelError, match="give --handler too"):
        processing_for(ProcessingOptions(requirements=requirements), TABULAR, SCORES)


def test_nothing_asked_is_no_processing():
    assert processing_for(ProcessingOptions(), TABULAR, SCORES) is None


def test_the_files_land_beside_model_json_and_the_spec_in_it(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", encoding="utf-8")
    handler = tmp_path / "my_handler"
    handler.mkdir()
    (handler / "handler.py").write_text("def preprocess(request, state):\n    return {}\n", encoding="utf-8")
    (handler / "helpers.py").write_text("X = 1\n", encoding="utf-8")
    processing = processing_for(
        ProcessingOptions(labels=labels, top_k=3, image=True, mean=(0.5,), std=(0.25,), handler=handler),
        IMAGE_INPUT,
        SCORES,
    )
    assert processing is not None and processing.needs == ("image",)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"format": 1}), encoding="utf-8")
    write_processing(folder, processing)
    manifest = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert manifest["processing"] == {
        "version": 1,
        "labels": {"file": "labels.json", "top_k": 3, "output": None},
        "image": {"size": None, "mean": [0.5], "std": [0.25], "scale": 1 / 255},
        "handler": {"module": "handler/handler.py"},
    }
    assert json.loads((folder / "labels.json").read_text(encoding="utf-8"))[:2] == ["a", "b"]
    assert {p.name for p in (folder / "handler").iterdir()} == {"handler.py", "helpers.py"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("texts.txt", "a cat sat\nthe dog ran fast\n"),
        ("texts.jsonl", '{"text": "a cat sat"}\n{"text": "the dog ran fast"}\n'),
        ("texts.json", '["a cat sat", "the dog ran fast"]'),
    ],
)
def test_text_samples_are_tokenized_with_the_functions_tokenizer_code(tmp_path, name, content):
    tokenizer = write_tokenizer(tmp_path / "tok" / "my-tokenizer.json")
    processing = processing_for(ProcessingOptions(tokenizer=tokenizer, pooling="mean"), TEXT_INPUTS, SCORES)
    assert processing is not None
    sample = tmp_path / name
    sample.write_text(content, encoding="utf-8")
    samples = text_samples(processing, TEXT_INPUTS, sample)
    assert samples.rows == 2 and set(samples.arrays) == {"input_ids", "attention_mask"}
    ids = samples.arrays["input_ids"]
    assert ids.dtype == np.int64 and ids[0, 0] == 2 and (ids[0] != 0).sum() == 5  # [CLS] a cat sat [SEP]
    assert text_samples(processing, TEXT_INPUTS, None).rows == 8  # the built-in sentences


def test_text_samples_that_cannot_be_read_name_the_file(tmp_path):
    tokenizer = write_tokenizer(tmp_path / "tokenizer.json")
    processing = processing_for(ProcessingOptions(tokenizer=tokenizer), TEXT_INPUTS, SCORES)
    assert processing is not None
    broken = tmp_path / "texts.jsonl"
    broken.write_text('{"text": 1}\n', encoding="utf-8")
    with pytest.raises(ModelError, match="texts.jsonl cannot be read"):
        text_samples(processing, TEXT_INPUTS, broken)


def test_a_handler_path_without_handler_py_is_refused(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(ModelError, match="neither a .py file nor a folder holding handler.py"):
        processing_for(ProcessingOptions(handler=folder), TABULAR, SCORES)


def test_labels_files_that_hold_nothing_usable_are_refused(tmp_path: Path):
    for text in ("", '{"a": "x"}', "[1, [2]]"):
        path = tmp_path / "labels.txt"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ModelError):
            processing_for(ProcessingOptions(labels=path), TABULAR, SCORES)


def test_a_handler_is_compiled_at_push_not_imported_and_a_syntax_error_names_file_and_line(tmp_path):
    handler = tmp_path / "model" / "handler"
    handler.mkdir(parents=True)
    # imports a package this machine does not have: fine at push (it comes from the processing layer)
    (handler / "handler.py").write_text("import not_installed_here\n", encoding="utf-8")
    (handler / "helpers.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"helpers\.py, line 1") as refused:
        check_handler_source(tmp_path / "model")
    assert "fix the handler file" in refused.value.hint
    (handler / "helpers.py").write_text("def f():\n    pass\n", encoding="utf-8")
    check_handler_source(tmp_path / "model")


def test_the_gate_compares_a_pooling_text_models_embedding_and_the_raw_outputs_otherwise(tmp_path):
    tokenizer = write_tokenizer(tmp_path / "tokenizer.json")
    hidden = (TensorSpec("last_hidden_state", "float32", ("N", "seq", 4)),)
    options = ProcessingOptions(tokenizer=tokenizer, pooling="mean", normalize=True)
    pooled = processing_for(options, TEXT_INPUTS, hidden)
    view = output_view(pooled, TEXT_INPUTS)
    assert view is not None
    tokens = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    specs, values = view(hidden, [tokens], {"input_ids": mask, "attention_mask": mask})
    assert [s.name for s in specs] == ["embedding"]
    expected = tokens[0, :2].mean(axis=0)  # the padded token is left out
    np.testing.assert_allclose(values[0][0], expected / np.linalg.norm(expected), rtol=1e-6)
    raw = processing_for(ProcessingOptions(tokenizer=tokenizer), TEXT_INPUTS, hidden)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join("abcdefghij"), encoding="utf-8")
    labelled = processing_for(ProcessingOptions(labels=labels), TABULAR, SCORES)
    assert output_view(raw, TEXT_INPUTS) is None and output_view(labelled, TABULAR) is None
    assert output_view(None, TABULAR) is None


def test_a_compressed_folder_gives_back_the_processing_it_was_written_with(tmp_path):
    tokenizer = write_tokenizer(tmp_path / "tokenizer.json")
    requirements = tmp_path / "reqs.txt"
    requirements.write_text("humanize==4.17.0\n", encoding="utf-8")
    handler = tmp_path / "h.py"
    handler.write_text("def postprocess(outputs, request, state):\n    return {}\n", encoding="utf-8")
    options = ProcessingOptions(
        tokenizer=tokenizer, pooling="cls", handler=handler, requirements=requirements
    )
    processing = processing_for(options, TEXT_INPUTS, SCORES)
    assert processing is not None
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"format": 1}), encoding="utf-8")
    write_processing(folder, processing, with_requirements=True)
    back = processing_from_folder(folder, TEXT_INPUTS, SCORES)
    assert back is not None and back.spec == processing.spec
    assert back.recipe is not None and back.recipe.needs == ("text",)
    assert back.requirements is not None and back.requirements.read_text() == "humanize==4.17.0\n"
    assert set(back.files) == {"tokenizer.json", "handler"}
    (folder / "model.json").write_text(json.dumps({"format": 1}), encoding="utf-8")
    assert processing_from_folder(folder, TEXT_INPUTS, SCORES) is None


def test_an_image_spec_without_pillow_installed_names_the_install_command(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ModelError, match="Pillow package is not installed") as refused:
        processing_for(ProcessingOptions(image=True), IMAGE_INPUT, SCORES)
    assert "sls-deploy[processing]" in refused.value.hint
