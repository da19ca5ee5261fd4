"""Compression through the CLI: `compress` writes a model folder with its report, `push --compress auto`
deploys the chosen candidate and it answers correctly, `push DIR` deploys a folder `compress` wrote,
pickles need --trust-pickle."""

from __future__ import annotations

import json
import pickle

import pytest
from click.testing import CliRunner

from sls_deploy.commands import main
from sls_inference.loader import load_model


@pytest.fixture
def project(example_project):
    return example_project


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_compress_writes_the_chosen_model_and_its_report_to_the_folder(project):
    result = run("compress", "digits.onnx", "--sample", "digits-samples.npz", "--out", "small", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    compression = report["compression"]
    assert compression["method"] != "none" and compression["metric"] == "top1"
    rows = {row["method"]: row for row in compression["report"]}
    assert rows["none"]["verdict"] == "baseline" and rows[compression["method"]]["verdict"] == "chosen"
    assert all(row["reason"] for row in rows.values())
    manifest = json.loads((project / "small" / "model.json").read_text())
    assert manifest["compression"]["method"] == compression["method"]
    assert manifest["session_config"] == report["session_config"]
    assert manifest["size_bytes"] < (project / "digits.onnx").stat().st_size
    assert load_model(project / "small").session is not None
    full = json.loads((project / "small" / "compression-report.json").read_text())
    assert full["report"][1]["latency"]["ratio_b1"] > 0  # timings stay out of model.json


def test_compress_shows_a_table_of_the_candidates(project):
    result = run(
        "compress", "digits.onnx", "-s", "digits-samples.npz", "-o", "small", "--compress", "int8-weight"
    )
    assert result.exit_code == 0, result.output
    assert "int8-weight:channel" in result.output and "baseline" in result.output
    assert "sls-deploy push small" in result.output


def test_an_explicit_method_that_fails_the_gate_is_a_user_error_with_the_numbers(project):
    result = run(
        "compress", "digits.onnx", "-s", "digits-samples.npz", "-o", "out", "--compress", "prune:0.95"
    )
    assert result.exit_code == 1
    assert "top-1 agreement" in result.output and "< 0.9950" in result.output and "--force" in result.output
    assert not (project / "out").exists()


def test_compress_refuses_to_replace_a_folder_it_did_not_write(project):
    (project / "keep").mkdir()
    (project / "keep" / "notes.txt").write_text("mine")
    result = run("compress", "digits.onnx", "-s", "digits-samples.npz", "-o", "keep")
    assert result.exit_code == 1 and "not a folder written by" in result.output
    assert (project / "keep" / "notes.txt").read_text() == "mine"


def test_a_pickled_model_needs_trust_pickle(project):
    (project / "model.pkl").write_bytes(pickle.dumps({"anything": 1}))
    result = run("build", "model.pkl")
    assert result.exit_code == 1
    assert "--trust-pickle" in result.output and "hint:" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_push_compress_auto_deploys_the_chosen_candidate_and_invoke_answers_right(project):
    result = run(
        "push",
        "digits.onnx",
        "--name",
        "digits",
        "--sample",
        "digits-samples.npz",
        "--compress",
        "auto",
        "--json",
    )
    assert result.exit_code == 0, result.output
    pushed = json.loads(result.stdout)
    method = pushed["compression"]["method"]
    assert method != "none", pushed["compression"]["reason"]
    model_layer = next(layer for layer in pushed["layers"] if layer["kind"] == "model-layer")
    manifest = json.loads((project / ".sls-deploy" / "build" / "digits" / "model" / "model.json").read_text())
    assert manifest["compression"]["method"] == method and model_layer["unzipped_bytes"] < 21_000
    answer = run("invoke", "digits", "--file", "digits-request.json", "--json")
    assert answer.exit_code == 0, answer.output
    label = next(o for o in json.loads(answer.stdout)["payload"]["outputs"] if o["name"] == "label")
    assert label["data"] == [7]


@pytest.mark.slow
def test_push_of_a_compressed_folder_deploys_it_without_compressing_again(project):
    assert (
        run(
            "compress", "digits.onnx", "-s", "digits-samples.npz", "-o", "small", "--compress", "int8-weight"
        ).exit_code
        == 0
    )
    result = run("push", "small", "--compress", "auto", "--json")
    assert result.exit_code == 0, result.output
    pushed = json.loads(result.stdout)
    assert pushed["name"] == "digits" and pushed["compression"]["method"] == "int8-weight:channel"
    assert any("compressed already" in w for w in pushed["warnings"])
    answer = run("invoke", "digits", "--file", "digits-request.json", "--json")
    label = next(o for o in json.loads(answer.stdout)["payload"]["outputs"] if o["name"] == "label")
    assert label["data"] == [7]


def test_a_trusted_scikit_learn_pickle_is_converted_then_compressed(project):
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    (project / "logreg.pkl").write_bytes(
        pickle.dumps(LogisticRegression(max_iter=3000).fit(x[:500], y[:500]))
    )
    np.savez(project / "rows.npz", input=x[500:564].astype(np.float32))
    result = run(
        "compress",
        "logreg.pkl",
        "--trust-pickle",
        "-s",
        "rows.npz",
        "-o",
        "out",
        "--compress",
        "fp16",
        "--force",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["name"] == "logreg" and report["compression"]["method"] == "fp16"
    assert [o["name"] for o in report["model"]["outputs"]] == ["label", "probabilities"]


def test_the_help_counts_the_candidates_auto_measures():
    from click.testing import CliRunner

    from sls_deploy.commands import main
    from sls_deploy.compress import AUTO

    text = " ".join(CliRunner().invoke(main, ["compress", "--help"]).output.split())
    assert f"auto builds and measures {len(AUTO)} candidates" in text
