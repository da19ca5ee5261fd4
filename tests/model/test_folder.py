"""The model layer: model/model.onnx + model/model.json, deterministic, and loadable by the handler's loader."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sls_deploy.core.errors import PackagingError
from sls_deploy.core.zips import extract_zip
from sls_deploy.model import inspect_model
from sls_deploy.model.folder import build_model_layer, model_layer_dir, model_manifest
from sls_inference.loader import load_model
from sls_inference.signature import TensorSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGITS = EXAMPLES / "digits.onnx"


@pytest.fixture(scope="module")
def digits_info():
    return inspect_model(DIGITS)


def _build(info, out_dir: Path, **kwargs):
    args = {"inputs": info.inputs, "outputs": info.outputs, "opset": info.opset, "sha256": info.sha256}
    args.update(kwargs)
    return build_model_layer(DIGITS, "digits", out_dir, **args)


def _digits_request() -> np.ndarray:
    request = json.loads((EXAMPLES / "digits-request.json").read_text())["inputs"][0]
    return np.asarray(request["data"], dtype=np.float32).reshape(request["shape"])


def test_the_layer_holds_exactly_the_model_and_its_manifest_under_model(tmp_path, digits_info):
    artifact = _build(digits_info, tmp_path)
    assert artifact.kind == "model-layer" and artifact.name == "digits"
    assert artifact.zip_path == tmp_path / "model-digits.zip"
    with zipfile.ZipFile(artifact.zip_path) as zf:
        assert zf.namelist() == ["model/model.json", "model/model.onnx"]
        assert zf.read("model/model.onnx") == DIGITS.read_bytes()
        manifest = json.loads(zf.read("model/model.json"))
    assert manifest == {
        "format": 1,
        "name": "digits",
        "version": digits_info.sha256[:12],
        "file": "model.onnx",
        "sha256": digits_info.sha256,
        "size_bytes": DIGITS.stat().st_size,
        "opset": digits_info.opset,
        "signature": {
            "inputs": [s.to_json() for s in digits_info.inputs],
            "outputs": [s.to_json() for s in digits_info.outputs],
        },
        "compression": {"method": "none"},
        "session_config": {},
    }


def test_the_extracted_layer_loads_with_the_handlers_loader_and_predicts_a_seven(tmp_path, digits_info):
    artifact = _build(digits_info, tmp_path / "build")
    extract_zip(artifact.zip_path, tmp_path / "opt")
    loaded = load_model(tmp_path / "opt" / "model")
    assert loaded.name == "digits" and loaded.version == digits_info.sha256[:12]
    label = loaded.session.run(["label"], {"input": _digits_request()})[0]
    assert label.tolist() == [7]


def test_the_unpacked_layer_folder_is_left_for_loading_without_unzipping(tmp_path, digits_info):
    _build(digits_info, tmp_path)
    loaded = load_model(model_layer_dir(tmp_path))
    assert [spec.name for spec in loaded.inputs] == ["input"]


def test_the_same_model_gives_the_same_zip_in_another_folder(tmp_path, digits_info):
    first = _build(digits_info, tmp_path / "a")
    second = _build(digits_info, tmp_path / "b")
    assert first.sha256 == second.sha256
    assert first.unzipped_bytes == second.unzipped_bytes


def test_extra_fields_replace_the_defaults_but_not_the_identity_fields():
    manifest = model_manifest(
        name="m",
        sha256="ab" * 32,
        size_bytes=10,
        opset={"ai.onnx.ml": 3, "": 17},
        inputs=[TensorSpec("x", "float32", (None, 4))],
        outputs=[TensorSpec("y", "float32", (None,))],
        extra={
            "compression": {"method": "int8-weight", "bits": 8},
            "session_config": {"session.disable_quant_qdq": "1"},
            "sha256": "forged",
            "notes": "kept",
        },
    )
    assert manifest["compression"] == {"method": "int8-weight", "bits": 8}
    assert manifest["session_config"] == {"session.disable_quant_qdq": "1"}
    assert manifest["notes"] == "kept"
    assert manifest["sha256"] == "ab" * 32 and manifest["version"] == "ab" * 6
    assert list(manifest["opset"]) == ["", "ai.onnx.ml"]


def test_a_session_config_in_the_manifest_reaches_the_loader(tmp_path, digits_info):
    _build(digits_info, tmp_path, extra={"session_config": {"session.disable_quant_qdq": "1"}})
    loaded = load_model(model_layer_dir(tmp_path))
    assert loaded.manifest["session_config"] == {"session.disable_quant_qdq": "1"}


def test_the_hash_is_computed_when_not_given(tmp_path, digits_info):
    artifact = _build(digits_info, tmp_path, sha256=None)
    with zipfile.ZipFile(artifact.zip_path) as zf:
        assert json.loads(zf.read("model/model.json"))["sha256"] == digits_info.sha256


def test_a_model_changed_since_it_was_inspected_is_refused(tmp_path, digits_info):
    with pytest.raises(PackagingError, match="changed after it was checked|not the"):
        _build(digits_info, tmp_path, sha256="0" * 64)


@pytest.mark.parametrize("name", ["", "../evil", "has space", "-leading", "x" * 65])
def test_names_that_cannot_name_a_layer_file_are_refused(tmp_path, digits_info, name):
    with pytest.raises(PackagingError, match="cannot name a layer"):
        build_model_layer(
            DIGITS,
            name,
            tmp_path,
            inputs=digits_info.inputs,
            outputs=digits_info.outputs,
            opset=digits_info.opset,
        )


def test_a_missing_model_file_is_reported(tmp_path, digits_info):
    with pytest.raises(PackagingError, match="does not exist"):
        build_model_layer(
            tmp_path / "nope.onnx",
            "digits",
            tmp_path,
            inputs=digits_info.inputs,
            outputs=digits_info.outputs,
            opset=digits_info.opset,
        )
