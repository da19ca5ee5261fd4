"""The repository's template.yaml is what `make template` renders for the example, and it is a valid stack."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sls_deploy.core.config import load_config
from sls_deploy.pipeline import build
from sls_deploy.template import validate_template

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture
def regenerated(tmp_path, layer_cache_dir) -> str:
    """Render the example's template in a copy of the repository's project files (nothing in the repo changes)."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "functions", tmp_path / "functions")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    config = load_config(tmp_path, {"cache_dir": str(layer_cache_dir)}, environ={})
    build(
        config,
        tmp_path / "examples" / "digits.onnx",
        name="digits",
        sample=tmp_path / "examples" / "digits-samples.npz",
    )
    return (tmp_path / "template.yaml").read_text(encoding="utf-8")


def test_the_checked_in_template_matches_a_fresh_render(regenerated):
    checked_in = (REPO / "template.yaml").read_text(encoding="utf-8")
    assert regenerated == checked_in, "template.yaml is stale: run `make template` and commit it"


def test_the_checked_in_template_translates_and_lints_clean():
    template = yaml.safe_load((REPO / "template.yaml").read_text(encoding="utf-8"))
    assert validate_template(template) == []


def test_the_example_function_url_requires_iam_auth():
    template = yaml.safe_load((REPO / "template.yaml").read_text(encoding="utf-8"))
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert [f["Properties"]["FunctionUrlConfig"]["AuthType"] for f in functions] == ["AWS_IAM"]
    assert functions[0]["Properties"]["CodeUri"] == "functions/inference/"
