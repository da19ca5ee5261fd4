"""Pre- and post-processing in the function: text through a real WordPiece tokenizer.json, images through
Pillow, labels, a custom handler module — on direct invokes, the function URL (raw image bodies) and the OIP
route — compared with tokenizing/decoding and running onnxruntime directly; and every bad input's 4xx."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from sls_inference.processing import Processor
from sls_inference.processing.spec import SpecError
from tests.support.inference_support import body_of, http_v2, logs, make_app, write_model_dir
from tests.support.processing_models import (
    DIGIT_LABELS,
    digit_image,
    image_classifier,
    reference_embedding,
    reference_label,
    token_encoder,
    write_labels,
    write_tokenizer,
)

TEXTS = ["The cat sat on the mat", "a red dog ran fast", "lambda serves text"]


def _text_dir(tmp_path: Path, **text: object) -> Path:
    folder = tmp_path / "encoder"
    write_tokenizer(folder / "tokenizer.json")
    spec = {"tokenizer": "tokenizer.json", "pooling": "mean", "normalize": True, **text}
    return write_model_dir(folder, token_encoder(), name="encoder", processing={"version": 1, "text": spec})


def _image_dir(tmp_path: Path, top_k: int = 1) -> Path:
    folder = tmp_path / "cnn"
    folder.mkdir(parents=True, exist_ok=True)
    write_labels(folder / "labels.json")
    processing = {
        "version": 1,
        "image": {"mean": [0.5], "std": [0.25]},
        "labels": {"file": "labels.json", "top_k": top_k},
    }
    return write_model_dir(folder, image_classifier(), name="cnn", processing=processing)


def _raw_image_event(path: str, image: bytes, content_type: str = "image/png") -> dict:
    event = http_v2("POST", path)
    event["headers"] = {"content-type": content_type}
    event["body"] = base64.b64encode(image).decode()
    event["isBase64Encoded"] = True
    return event


# --- text ------------------------------------------------------------------------------------------------


def test_text_in_every_request_form_gives_the_directly_computed_normalized_embedding(tmp_path):
    folder = _text_dir(tmp_path)
    app = make_app(folder)
    expected = reference_embedding(folder / "model.onnx", folder / "tokenizer.json", TEXTS)
    plain = np.array(app.handle({"text": TEXTS})["predictions"])
    rows = np.array(app.handle({"instances": TEXTS})["predictions"])
    oip = app.handle({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": TEXTS}]})
    (embedding,) = oip["outputs"]
    assert embedding["name"] == "embedding" and embedding["shape"] == [3, 16]
    for got in (plain, rows, np.array(embedding["data"]).reshape(3, 16)):
        cosine = (got * expected).sum(axis=1) / np.linalg.norm(got, axis=1)
        assert cosine.min() >= 0.9999


def test_a_single_text_is_one_prediction_and_plain_text_bodies_work_on_the_function_url(tmp_path):
    folder = _text_dir(tmp_path)
    app = make_app(folder)
    expected = reference_embedding(folder / "model.onnx", folder / "tokenizer.json", TEXTS[:1])[0]
    (one,) = app.handle({"text": TEXTS[0]})["predictions"]
    event = http_v2("POST", "/", TEXTS[0])
    event["headers"] = {"content-type": "text/plain"}
    (url,) = body_of(app.handle(event))["predictions"]
    assert np.allclose(one, expected, atol=1e-5) and np.allclose(url, expected, atol=1e-5)


def test_a_long_text_is_truncated_by_default_and_refused_under_truncation_error(tmp_path):
    long_text = " ".join(["cat"] * 100)
    truncating = make_app(_text_dir(tmp_path / "a", max_length=8))
    assert len(truncating.handle({"text": long_text})["predictions"]) == 1
    refusing = make_app(_text_dir(tmp_path / "b", max_length=8, truncation="error"))
    answer = refusing.handle({"text": long_text})
    assert answer["error"]["status"] == 400
    assert "102 tokens" in answer["error"]["message"] and "at most 8" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        ({"text": ""}, "text 0 is empty"),
        ({"text": [[1, 2, 3]]}, "text 0 is list; this model takes strings"),
        ({"instances": [[101, 2023]]}, "this model takes strings"),
        ({"text": []}, "no text in the request"),
        ({"inputs": [{"name": "x", "datatype": "INT64", "shape": [1], "data": [1]}]}, "takes BYTES"),
        ({"rows": [1]}, "this model takes text"),
    ],
)
def test_bad_text_requests_are_400s_naming_the_problem(tmp_path, request_, complaint):
    answer = make_app(_text_dir(tmp_path)).handle(request_)
    assert answer["error"]["status"] == 400 and complaint in answer["error"]["message"]


def test_text_sent_to_a_tensor_model_says_it_takes_tensors(tmp_path):
    folder = write_model_dir(tmp_path / "plain", image_classifier(), name="plain")
    answer = make_app(folder).handle({"text": "hello"})
    assert answer["error"]["status"] == 400 and "takes tensors, not text" in answer["error"]["message"]


# --- images and labels -----------------------------------------------------------------------------------


def test_a_png_on_the_function_url_and_the_oip_route_gets_the_directly_computed_label(tmp_path):
    folder = _image_dir(tmp_path, top_k=3)
    app = make_app(folder)
    image = digit_image(1)
    expected = reference_label(folder / "model.onnx", image)
    url = body_of(app.handle(_raw_image_event("/", image)))
    (prediction,) = url["predictions"]
    assert prediction["label"] == expected and 0 < prediction["score"] <= 1
    assert prediction["top_k_labels"][0] == expected and len(prediction["top_k_scores"]) == 3
    assert len(prediction["probabilities"]) == 10  # the model's own output stays
    oip = body_of(app.handle(_raw_image_event("/v2/models/cnn/infer", image)))
    outputs = {o["name"]: o for o in oip["outputs"]}
    assert outputs["label"]["datatype"] == "BYTES" and outputs["label"]["data"] == [expected]
    assert outputs["score"]["data"] == pytest.approx([prediction["score"]])


def test_base64_images_in_json_and_jpeg_bodies_are_taken(tmp_path):
    folder = _image_dir(tmp_path)
    app = make_app(folder)
    images = [digit_image(2), digit_image(3, size=20, fmt="JPEG")]
    encoded = [base64.b64encode(i).decode() for i in images]
    expected = [reference_label(folder / "model.onnx", i) for i in images]
    assert [p["label"] for p in app.handle({"image": encoded})["predictions"]] == expected
    instances = app.handle({"instances": [{"b64": e} for e in encoded]})
    assert [p["label"] for p in instances["predictions"]] == expected
    oip = app.handle({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2], "data": encoded}]})
    assert {o["name"]: o for o in oip["outputs"]}["label"]["data"] == expected
    jpeg = body_of(app.handle(_raw_image_event("/", images[1], "image/jpeg")))
    assert jpeg["predictions"][0]["label"] == expected[1]


def test_bad_images_are_clear_4xx_answers(tmp_path):
    app = make_app(_image_dir(tmp_path))
    truncated = digit_image(4)[:60]
    jpeg = digit_image(4, size=64, fmt="JPEG")
    truncated_jpeg = jpeg[: len(jpeg) * 2 // 3]  # header intact, scan data cut off
    cases = [
        (_raw_image_event("/", truncated), 400, "image 0 cannot be decoded"),
        (_raw_image_event("/", truncated_jpeg, "image/jpeg"), 400, "image 0 cannot be decoded"),
        (_raw_image_event("/", b"not an image at all"), 400, "cannot be decoded"),
        (_raw_image_event("/", b"{}", "application/pdf"), 415, "not taken by this image model"),
    ]
    for event, status, complaint in cases:
        response = app.handle(event)
        assert response["statusCode"] == status and complaint in body_of(response)["error"]["message"]
    assert "not valid base64" in app.handle({"image": "%%%"})["error"]["message"]
    assert "images are sent base64-encoded" in app.handle({"image": [[0, 1]]})["error"]["message"]


def test_an_oversized_image_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    from sls_inference.processing import image as image_module

    monkeypatch.setattr(image_module, "MAX_PIXELS", 100)
    app = make_app(_image_dir(tmp_path))
    response = app.handle(_raw_image_event("/", digit_image(5, size=32)))
    assert response["statusCode"] == 413 and "32×32 pixels" in body_of(response)["error"]["message"]


def test_an_image_body_to_a_tensor_model_is_a_415(tmp_path):
    app = make_app(write_model_dir(tmp_path / "plain", image_classifier(), name="plain"))
    response = app.handle(_raw_image_event("/", digit_image(6)))
    assert response["statusCode"] == 415 and "takes JSON tensors" in body_of(response)["error"]["message"]


def test_labels_on_a_tensor_request_add_label_and_score_beside_the_outputs(tmp_path):
    folder = tmp_path / "tensor-labels"
    folder.mkdir()
    write_labels(folder / "labels.json")
    app = make_app(write_model_dir(folder, image_classifier(), processing={"version": 1, "labels": {}}))
    rows = np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32)
    answer = app.handle({"instances": rows.tolist()})
    assert [set(p) for p in answer["predictions"]] == [{"probabilities", "label", "score"}] * 2
    best = [DIGIT_LABELS[int(np.argmax(p["probabilities"]))] for p in answer["predictions"]]
    assert [p["label"] for p in answer["predictions"]] == best


# --- custom code -----------------------------------------------------------------------------------------

HANDLER = """
import numpy as np
from sls_inference.processing import BadRequest

def load(model_dir):
    return {"scale": 2.0}

def preprocess(request, state):
    if "pixels" not in request:
        raise BadRequest("send {'pixels': [64 numbers]}", field="pixels")
    if request.get("explode"):
        raise ZeroDivisionError("secret internal detail")
    return {"image": np.asarray(request["pixels"], dtype=np.float32).reshape(1, 1, 8, 8) * state["scale"]}

def postprocess(outputs, request, state):
    return {"best": int(np.argmax(outputs["probabilities"][0])), "echo": request.get("tag")}
"""


def test_a_custom_handler_shapes_requests_and_answers_and_its_bad_request_is_a_400(tmp_path):
    folder = tmp_path / "custom"
    (folder / "handler").mkdir(parents=True)
    (folder / "handler" / "handler.py").write_text(HANDLER, encoding="utf-8")
    app = make_app(write_model_dir(folder, image_classifier(), processing={"version": 1, "handler": {}}))
    pixels = list(np.linspace(0, 1, 64))
    answer = app.handle({"pixels": pixels, "tag": "t1"})
    assert answer["echo"] == "t1" and 0 <= answer["best"] < 10
    refused = app.handle({"nothing": 1})
    assert refused["error"] == {"status": 400, "message": "send {'pixels': [64 numbers]}", "field": "pixels"}
    failed = app.handle({"pixels": pixels, "explode": True})
    assert failed["error"]["status"] == 500 and "secret" not in json.dumps(failed)
    assert any("secret internal detail" in json.dumps(line) for line in logs(app))  # the traceback is logged


# --- the spec against the signature ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("processing", "complaint"),
    [
        ({"version": 2}, "version 2 is not supported"),
        ({"version": 1, "image": {}, "text": {}}, "text or images, not both"),
        ({"version": 1, "text": {}}, "a tokenizer fills the inputs"),
        ({"version": 1, "image": {"mean": [0.1, 0.2]}}, "mean has 2 values"),
        ({"version": 1, "labels": {"top_k": 0}}, "top_k must be at least 1"),
        ({"version": 1, "colour": {}}, "unknown entries: colour"),
    ],
)
def test_a_spec_that_does_not_fit_the_model_is_refused_at_init(tmp_path, processing, complaint):
    folder = write_model_dir(tmp_path / "m", image_classifier(), processing=processing)
    from sls_inference.loader import load_model

    with pytest.raises(SpecError, match=complaint):
        Processor.for_model(load_model(folder))
