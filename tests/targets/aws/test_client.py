"""client.py's error translation, with botocore's Stubber answering: what failed and the hint, and the answers
the callers branch on (None, False, NotFound, Throttled) instead of error codes."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from sls_deploy.core.errors import TargetError
from sls_deploy.targets.aws.client import (
    CREDENTIALS_HINT,
    PERMISSION_HINT,
    CloudFormationApi,
    LambdaApi,
    NotFound,
    S3Api,
    Throttled,
)
from tests.support.aws_helpers import STACK, not_found, offline_context, stack_response


def test_a_refused_permission_names_the_call_and_hints_at_the_permissions():
    aws = offline_context()
    with Stubber(aws.client("lambda")) as lam:
        lam.add_client_error("get_alias", "AccessDeniedException", "not authorized to perform GetAlias")
        with pytest.raises(TargetError) as info:
            LambdaApi(aws).get_alias("demo-digits", "live")
    assert info.value.message == (
        "reading alias live of demo-digits failed: AccessDeniedException: not authorized to perform GetAlias"
    )
    assert info.value.hint == PERMISSION_HINT


def test_expired_credentials_hint_at_renewing_them():
    aws = offline_context()
    with Stubber(aws.client("cloudformation")) as cfn:
        cfn.add_client_error("delete_stack", "ExpiredToken", "the security token has expired")
        with pytest.raises(TargetError) as info:
            CloudFormationApi(aws).delete_stack(STACK)
    assert info.value.message.startswith(f"deleting stack {STACK} failed: ExpiredToken")
    assert info.value.hint == CREDENTIALS_HINT


def test_a_stack_that_does_not_exist_is_none_and_other_validation_errors_are_raised():
    aws = offline_context()
    api = CloudFormationApi(aws)
    with Stubber(aws.client("cloudformation")) as cfn:
        not_found(cfn)
        cfn.add_response("describe_stacks", stack_response("CREATE_COMPLETE"), {"StackName": STACK})
        cfn.add_client_error("describe_stacks", "ValidationError", "1 validation error detected")
        assert api.describe_stack(STACK) is None
        found = api.describe_stack(STACK)
        assert found is not None and found["StackStatus"] == "CREATE_COMPLETE"
        with pytest.raises(TargetError, match=f"describing stack {STACK} failed: ValidationError"):
            api.describe_stack(STACK)


def test_missing_lambda_resources_are_none_or_not_found_and_a_throttled_invoke_is_throttled():
    aws = offline_context()
    api = LambdaApi(aws)
    with Stubber(aws.client("lambda")) as lam:
        lam.add_client_error("get_alias", "ResourceNotFoundException", "Alias not found")
        lam.add_client_error("list_layer_versions", "ResourceNotFoundException", "Layer not found")
        lam.add_client_error("invoke", "ResourceNotFoundException", "Function not found: demo-digits:7")
        lam.add_client_error("invoke", "TooManyRequestsException", "Rate exceeded")
        assert api.get_alias("demo-digits", "live") is None
        with pytest.raises(NotFound):
            api.layer_versions("demo-runtime")
        with pytest.raises(NotFound) as missing:
            api.invoke("demo-digits", "7", b"{}")
        assert missing.value.detail == "Function not found: demo-digits:7"
        with pytest.raises(Throttled) as throttled:
            api.invoke("demo-digits", "live", b"{}")
    assert isinstance(throttled.value, TargetError) and throttled.value.code == "TooManyRequestsException"


def test_an_alias_that_exists_already_is_pointed_at_the_version_instead():
    aws = offline_context()
    with Stubber(aws.client("lambda")) as lam:
        lam.add_client_error("create_alias", "ResourceConflictException", "Alias already exists")
        lam.add_response(
            "update_alias",
            {"Name": "sls-tune-512-x86-64", "FunctionVersion": "4"},
            {"FunctionName": "demo-digits", "Name": "sls-tune-512-x86-64", "FunctionVersion": "4"},
        )
        LambdaApi(aws).put_alias("demo-digits", "sls-tune-512-x86-64", "4")
        lam.assert_no_pending_responses()


def test_a_bucket_of_another_account_is_refused_and_a_missing_one_or_key_is_false():
    aws = offline_context()
    api = S3Api(aws)
    with Stubber(aws.client("s3")) as s3:
        s3.add_client_error("head_bucket", "404", "Not Found", http_status_code=404)
        s3.add_client_error("head_object", "404", "Not Found", http_status_code=404)
        s3.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
        assert api.bucket_exists("sls-deploy-artifacts") is False
        assert api.object_exists("sls-deploy-artifacts", "artifacts/abc.zip") is False
        with pytest.raises(TargetError) as info:
            api.bucket_exists("sls-deploy-artifacts")
    assert "belongs to another account" in info.value.message and "global" in info.value.hint
