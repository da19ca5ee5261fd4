"""Processing end to end on the local target, through the CLI and `serve` with real clients: a BERT-style
sentence encoder exported with torch + a WordPiece tokenizer.json (text in, the embedding out), an image
classifier with labels (PNG bodies on the function URL and the OIP route), and a custom handler whose
requirement comes from its processing layer alone, run under python3.12."""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnx
import pytest
from botocore.config import Config
from click.testing import CliRunner

from sls_deploy.commands import main
from sls_deploy.core.config import load_config
from sls_deploy.targets.local.gateway import Gateway
from sls_deploy.targets.local.target import LocalTarget
from tests.support.processing_models import (
    digit_image,
    export_tiny_bert,
    image_classifier,
    reference_embedding,
    reference_label,
    write_labels,
    write_tokenizer,
)

pytestmark = pytest.mark.slow

TEXTS = ["The cat sat on the mat", "a red dog ran fast"]


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def push(*args: str) -> dict:
    result = cli("push", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def post(url: str, body: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"content-type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def cosines(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return (got * expected).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))


def test_a_sentence_encoder_answers_text_with_the_directly_computed_embedding(example_project: Path):
    model = export_tiny_bert(example_project / "encoder.onnx")
    tokenizer = write_tokenizer(example_project / "tokenizer.json")
    pushed = push("encoder.onnx", "--tokenizer", "tokenizer.json", "--pooling", "mean")
    assert [layer["kind"] for layer in pushed["layers"]] == [
        "runtime-layer",
        "processing-layer",
        "model-layer",
    ]
    assert pushed["processing"]["text"]["pooling"] == "mean"
    expected = reference_embedding(model, tokenizer, TEXTS)

    invoked = cli("invoke", "encoder", "--data", json.dumps({"text": TEXTS[0]}), "--json")
    assert invoked.exit_code == 0, invoked.output
    (one,) = json.loads(invoked.stdout)["payload"]["predictions"]
    assert cosines(np.array([one]), expected[:1]).min() >= 0.9999

    config = load_config(example_project)
    with Gateway(LocalTarget(config), port=0).start() as gateway:
        client = boto3.client(
            "lambda",
            endpoint_url=gateway.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
        )
        answer = client.invoke(FunctionName="encoder", Payload=json.dumps({"instances": TEXTS}).encode())
        predictions = np.array(json.loads(answer["Payload"].read())["predictions"])
        assert cosines(predictions, expected).min() >= 0.9999
        status, body = post(
            f"{gateway.url}/v2/models/encoder/infer", json.dumps({"text": ""}).encode(), "application/json"
        )
        assert status == 400 and "text 0 is empty" in body["error"]["message"]


def test_an_image_classifier_names_the_label_of_a_png_on_the_url_and_the_oip_route(example_project: Path):
    onnx.save(image_classifier(), str(example_project / "cnn.onnx"))
    labels = write_labels(example_project / "labels.json")
    push("cnn.onnx", "--labels", labels.name, "--top-k", "2", "--image", "--mean", "0.5", "--std", "0.25")
    image = digit_image(7)
    expected = reference_label(example_project / "cnn.onnx", image)
    with Gateway(LocalTarget(load_config(example_project)), port=0).start() as gateway:
        status, url = post(f"{gateway.url}/url/cnn/", image, "image/png")
        assert status == 200 and url["predictions"][0]["label"] == expected
        assert len(url["predictions"][0]["top_k_labels"]) == 2
        status, oip = post(f"{gateway.url}/v2/models/cnn/infer", image, "image/png")
        assert status == 200 and {o["name"]: o for o in oip["outputs"]}["label"]["data"] == [expected]
        status, bad = post(f"{gateway.url}/url/cnn/", image[:50], "image/png")
        assert status == 400 and "cannot be decoded" in bad["error"]["message"]


HANDLER = """
import sys

import humanize  # from the processing layer (the requirements file), not the runtime layer
import numpy as np
from sls_inference.processing import BadRequest


def preprocess(request, state):
    if "pixels" not in request:
        raise BadRequest("send {\\"pixels\\": [64 numbers]}", field="pixels")
    return {"image": np.asarray(request["pixels"], dtype=np.float32).reshape(-1, 1, 8, 8)}


def postprocess(outputs, request, state):
    best = outputs["probabilities"][0]
    return {"class": int(best.argmax()), "said": humanize.intcomma(12345), "python": sys.version.split()[0],
            "humanize_from": humanize.__file__}
"""


def test_a_custom_handler_with_a_requirement_runs_from_its_layer_and_its_bad_request_is_a_400(
    example_project,
):
    onnx.save(image_classifier(), str(example_project / "cnn.onnx"))
    (example_project / "my_handler.py").write_text(HANDLER, encoding="utf-8")
    (example_project / "requirements.txt").write_text("humanize==4.17.0\n", encoding="utf-8")
    pushed = push(
        "cnn.onnx", "--name", "custom", "--handler", "my_handler.py", "--requirements", "requirements.txt"
    )
    assert importlib.util.find_spec("humanize") is None  # not on this machine: only in the layer
    assert [layer["kind"] for layer in pushed["layers"]] == [
        "runtime-layer",
        "processing-layer",
        "model-layer",
    ]
    ok = cli("invoke", "custom", "--data", json.dumps({"pixels": list(range(64))}), "--json")
    assert ok.exit_code == 0, ok.output
    answer = json.loads(ok.stdout)["payload"]
    assert answer["said"] == "12,345" and answer["python"].startswith("3.12.")
    assert "/opt/python/" in answer["humanize_from"]  # the merged layers, as Lambda mounts them
    refused = cli("invoke", "custom", "--data", '{"nothing": 1}', "--json")
    assert refused.exit_code == 1
    error = json.loads(refused.stdout)["payload"]["error"]
    assert error["status"] == 400 and "send" in error["message"]


def test_compress_on_a_tokenizer_model_takes_texts_gates_on_the_embedding_and_push_dir_keeps_it(
    example_project: Path,
):
    export_tiny_bert(example_project / "encoder.onnx")
    write_tokenizer(example_project / "tokenizer.json")
    texts = [f"{a} {b} sat on the mat" for a in ("the", "a") for b in ("cat", "dog", "red dog", "fast cat")]
    (example_project / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    result = cli(
        "compress", "encoder.onnx", "--out", "small", "--tokenizer", "tokenizer.json", "--pooling", "mean",
        "--sample", "texts.txt", "--compress", "auto", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["compression"]
    assert report["metric"] == "cosine" and report["rows"] == len(texts) and report["samples"] == "texts.txt"
    measured = [c for c in report["report"] if c["agreement"]["value"] is not None]
    assert measured and all(c["agreement"]["outputs"] == ["embedding"] for c in measured)
    pushed = push("small", "--name", "small-encoder")
    assert pushed["processing"]["text"]["pooling"] == "mean"
    invoked = cli("invoke", "small-encoder", "--data", json.dumps({"text": texts[0]}), "--json")
    assert invoked.exit_code == 0, invoked.output
    (embedding,) = json.loads(invoked.stdout)["payload"]["predictions"]
    assert abs(np.linalg.norm(embedding) - 1) < 1e-4
