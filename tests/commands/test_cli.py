"""The sls-deploy command line: exit codes, messages with hints, --json output, build and dry runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sls_deploy.commands import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def project(example_project):
    return example_project


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_every_command_has_help_with_an_example():
    for command in ("build", "push", "invoke", "list"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.output, command


def test_a_missing_model_is_a_user_error_with_a_hint_and_no_traceback(project):
    result = run("build", "missing.onnx")
    assert result.exit_code == 1
    assert "missing.onnx does not exist" in result.output
    assert "hint:" in result.output
    assert "Traceback" not in result.output


def test_a_bad_flag_is_a_usage_error(project):
    result = run("push", "digits.onnx", "--memory", "lots")
    assert result.exit_code == 2


def test_an_out_of_range_setting_from_the_environment_names_its_source(project, monkeypatch):
    monkeypatch.setenv("SLS_DEPLOY_MEMORY", "64")
    result = run("build", "digits.onnx")
    assert result.exit_code == 1
    assert "memory 64 MB" in result.output


def test_a_bad_model_name_is_refused_before_anything_is_built(project):
    result = run("build", "digits.onnx", "--name", "9 lives")
    assert result.exit_code == 1
    assert "cannot name a Lambda function" in result.output
    assert not (project / ".sls-deploy").exists()


def test_invoke_needs_a_request(project):
    result = run("invoke", "digits")
    assert result.exit_code == 2
    assert "--data" in result.output


def test_invoke_refuses_a_request_that_is_not_json(project):
    result = run("invoke", "digits", "--data", "{not json")
    assert result.exit_code == 1
    assert "not valid JSON" in result.output


@pytest.mark.slow
def test_push_dry_run_builds_layers_and_template_but_deploys_nothing(project):
    result = run(
        "push", "digits.onnx", "--name", "digits", "--sample", "digits-samples.npz", "--dry-run", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["deployment"] is None
    assert report["plan"]["target"] == "local"
    assert "publish version 1 of digits" in report["plan"]["steps"]
    assert "point live at 1" in report["plan"]["steps"]
    kinds = {layer["kind"]: layer for layer in report["layers"]}
    assert set(kinds) == {"runtime-layer", "model-layer"}
    assert all(len(layer["sha256"]) == 64 and layer["unzipped_bytes"] > 0 for layer in report["layers"])
    assert report["budget"]["ok"] is True
    assert report["smoke"]["rows"] == 64
    assert (project / "template.yaml").is_file()
    assert not (project / ".sls-deploy" / "functions").exists()


@pytest.mark.slow
def test_build_is_reproducible(project):
    first = json.loads(run("build", "digits.onnx", "--json").stdout)
    second = json.loads(run("build", "digits.onnx", "--json").stdout)
    assert [a["sha256"] for a in first["layers"]] == [a["sha256"] for a in second["layers"]]
    assert first["code"]["sha256"] == second["code"]["sha256"]


@pytest.mark.slow
def test_public_access_is_rendered_only_when_asked_for(project):
    assert run("build", "digits.onnx", "--json").exit_code == 0
    assert "AuthType: AWS_IAM" in (project / "template.yaml").read_text()
    result = run("build", "digits.onnx", "--public")
    assert result.exit_code == 0
    assert "AuthType: NONE" in (project / "template.yaml").read_text()
    assert "warning" in result.output.lower() and "public" in result.output.lower()


def test_an_unavailable_target_is_refused_before_anything_is_built(project, without_aws_region):
    result = run("push", "digits.onnx", "--target", "aws")
    assert result.exit_code == 1
    assert "aws target" in result.output and "hint:" in result.output
    assert not (project / ".sls-deploy").exists()


def test_a_project_folder_that_does_not_exist_is_a_usage_error(tmp_path):
    result = run("--project-dir", str(tmp_path / "missing"), "list")
    assert result.exit_code == 2
    assert "does not exist" in result.output
