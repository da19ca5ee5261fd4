"""`push --target aws` failing early: each failure is one clear message, exit status 1, and no work done."""

from __future__ import annotations

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from sls_deploy.commands import main
from sls_deploy.core import limits
from tests.support.aws_helpers import REGION

PUSH = ["push", "digits.onnx", "--name", "digits", "--sample", "digits-samples.npz", "--target", "aws"]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_push_without_credentials_fails_before_building_and_says_how_to_set_them(
    example_project, without_aws_credentials
):
    result = run(*PUSH)
    assert result.exit_code == 1
    assert "no AWS credentials found" in result.stderr
    assert "aws configure" in result.stderr and "Traceback" not in result.output
    assert not (example_project / ".sls-deploy").exists()  # nothing was built


def test_push_without_a_region_fails_before_building_and_names_the_flag(example_project, without_aws_region):
    result = run(*PUSH)
    assert result.exit_code == 1
    assert "no AWS region" in result.stderr and "--region" in result.stderr
    assert not (example_project / ".sls-deploy").exists()


def test_a_stack_name_cloudformation_refuses_is_a_usage_problem_reported_before_building(example_project):
    result = run(*PUSH, "--stack-name", "my_stack")
    assert result.exit_code == 1 and "cannot name a CloudFormation stack" in result.stderr
    assert not (example_project / ".sls-deploy").exists()


@pytest.mark.slow
def test_an_over_budget_build_fails_with_the_breakdown_and_uploads_nothing(example_project, monkeypatch):
    monkeypatch.setattr(limits, "MAX_UNZIPPED_BYTES", 50_000_000)  # the runtime layer alone is ~87 MB
    with mock_aws():
        result = run(*PUSH, "--region", REGION)
        assert result.exit_code == 1
        assert "does not fit Lambda's deployment limits" in result.stderr and "runtime-layer" in result.stderr
        assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
        assert boto3.client("cloudformation", region_name=REGION).describe_stacks()["Stacks"] == []
