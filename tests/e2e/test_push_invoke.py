"""The whole path through the CLI on the local target: push the example, invoke it through a real worker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sls_deploy.commands import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.slow


@pytest.fixture
def project(example_project):
    return example_project


def run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def push_json(*extra: str) -> dict:
    result = run(
        "push", "digits.onnx", "--name", "digits", "--sample", "digits-samples.npz", "--json", *extra
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_push_reports_identity_and_layers_then_a_same_push_publishes_nothing(project):
    first = push_json()
    assert (first["name"], first["target"], first["version"], first["changed"]) == (
        "digits",
        "local",
        "1",
        True,
    )
    assert first["function_id"] and first["endpoint"]
    assert {layer["kind"] for layer in first["layers"]} == {"runtime-layer", "model-layer"}
    second = push_json()
    assert (second["version"], second["changed"]) == ("1", False)
    third = push_json("--memory", "2048")
    assert (third["version"], third["changed"]) == ("2", True)


def test_invoke_answers_the_example_request_with_the_right_digit_and_a_report(project):
    push_json()
    result = run("invoke", "digits", "--file", "digits-request.json", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    label = next(o for o in answer["payload"]["outputs"] if o["name"] == "label")
    assert label["data"] == [7]
    report = answer["report"]
    assert report["init_duration_ms"] > 0 and report["duration_ms"] > 0
    assert report["billed_duration_ms"] >= int(report["duration_ms"])
    assert report["memory_size_mb"] == 1024 and report["max_memory_used_mb"] > 10


def test_invoke_with_tf_serving_rows_predicts_every_sample(project):
    push_json()
    samples = np.load(project / "digits-samples.npz")["input"][:5]
    result = run("invoke", "digits", "--data", json.dumps({"instances": samples.tolist()}), "--json")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)["payload"]["predictions"]
    assert len(predictions) == 5
    assert all(set(p) == {"label", "probabilities"} for p in predictions)


def test_a_bad_request_gets_a_400_naming_the_field_not_a_crash(project):
    push_json()
    bad = {"inputs": [{"name": "input", "shape": [1, 63], "datatype": "FP32", "data": [0.0] * 63}]}
    result = run("invoke", "digits", "--data", json.dumps(bad), "--json")
    assert result.exit_code == 1, result.output
    answer = json.loads(result.stdout)
    assert answer["function_error"] is None
    assert answer["payload"]["error"]["status"] == 400
    assert "64" in answer["payload"]["error"]["message"]


def test_invoking_an_unknown_function_lists_what_is_deployed(project):
    push_json()
    result = run("invoke", "digitz", "--data", "{}")
    assert result.exit_code == 1
    assert "digitz" in result.output and "digits" in result.output
    assert "Traceback" not in result.output


def test_invoke_by_version_number_reaches_that_version(project):
    push_json()
    push_json("--memory", "2048")
    result = run("invoke", "digits", "--qualifier", "1", "--file", "digits-request.json", "--json")
    answer = json.loads(result.stdout)
    assert answer["version"] == "1" and answer["report"]["memory_size_mb"] == 1024


def test_without_the_runtimes_python_the_host_python_runs_it_and_says_so(
    project, monkeypatch, tmp_path_factory
):
    import sys

    monkeypatch.setenv("PYENV_ROOT", str(tmp_path_factory.mktemp("no-pyenv")))
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    pushed = push_json()
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert any("no python3.12 interpreter found" in w and host in w for w in pushed["warnings"])
    assert pushed["runtime"] == f"python{host}"
    assert pushed["local_python"] == sys.executable
    result = run("invoke", "digits", "--file", "digits-request.json", "--json")
    answer = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert next(o for o in answer["payload"]["outputs"] if o["name"] == "label")["data"] == [7]
