"""`invoke --event url|sqs|s3` on the local target: the example model answers each event source's shape
through a real worker, and `metrics` counts what happened."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sls_deploy.commands import main

pytestmark = pytest.mark.slow


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def invoke_json(*args: str, expect: int = 0) -> dict:
    result = run("invoke", "digits", *args, "--json")
    assert result.exit_code == expect, result.output
    return json.loads(result.stdout)


def label(response: dict) -> list[int]:
    return next(output["data"] for output in response["outputs"] if output["name"] == "label")


def test_each_event_source_is_answered_by_the_example_model(example_project: Path) -> None:
    pushed = run("push", "digits.onnx", "--name", "digits", "--sample", "digits-samples.npz", "--json")
    assert pushed.exit_code == 0, pushed.output
    request = json.loads((example_project / "digits-request.json").read_text())

    url = invoke_json("--file", "digits-request.json", "--event", "url")
    assert url["event"] == "url" and url["payload"]["statusCode"] == 200
    assert label(json.loads(url["payload"]["body"])) == [7]

    batch = invoke_json("--file", "digits-request.json", "--event", "sqs", "--batch", "3")
    assert batch["payload"] == {"batchItemFailures": []}

    mixed = json.dumps([request, {"instances": [[1.0, 2.0]]}])
    partial = invoke_json("--data", mixed, "--event", "sqs", "--split", expect=1)
    assert len(partial["payload"]["batchItemFailures"]) == 1  # the second record, 400: wrong shape

    s3 = invoke_json("--file", "digits-request.json", "--event", "s3")
    (written,) = s3["payload"]["written"]
    stored = s3["object"]
    assert written == f"predictions/{stored['key']}"
    bucket = example_project / ".sls-deploy" / "s3" / stored["bucket"]
    assert Path(stored["location"]) == bucket / stored["key"]
    assert label(json.loads((bucket / written).read_text())) == [7]

    metrics = run("metrics", "digits", "--json")
    counts = json.loads(metrics.stdout)
    assert (counts["invocations"], counts["errors"]) == (4, 0)
    assert counts["inference_latency_ms"]["count"] == 4  # one batched run per invocation
