"""`tune` on the aws target: per memory size a temporary version and alias (moto answers the configuration,
publish, alias and delete calls; botocore's Stubber answers the invocations with REPORT lines), and every
temporary alias and version is deleted and $LATEST's memory restored — after success, an error or Ctrl-C."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from sls_deploy.commands.factory import open_tune_runner
from sls_deploy.core.errors import TargetError
from sls_deploy.core.prices import US_EAST_1
from sls_deploy.core.records import InvokeResult
from sls_deploy.monitor.tune import tune
from sls_deploy.targets.aws.functions import FunctionRef, Functions
from sls_deploy.targets.aws.tune import AwsTuneRunner, tune_alias
from tests.support.aws_emulator import cloudformation_with_sam
from tests.support.aws_helpers import REGION, make_project, offline_context, target

FUNCTION = "demo-digits"
REF = FunctionRef("digits", FUNCTION, f"/aws/lambda/{FUNCTION}", "digits", "SlsDeploy")
REQUEST = b'{"instances": [[1]]}'
DURATION_MS = {128: 160.0, 1024: 20.0, 1769: 12.0}  # what the stubbed REPORT lines say per memory size


@pytest.fixture
def lam() -> Iterator[Any]:
    """A moto account with digits deployed at 1024 MB: version 1 behind the alias `live`."""
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="digits", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
        client = boto3.client("lambda", region_name=REGION)
        client.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="app.handler",
            Code={"ZipFile": code.getvalue()},
            MemorySize=1024,
        )
        client.publish_version(FunctionName=FUNCTION)
        client.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
        yield client


def state(lam: Any) -> tuple[list[str], list[str], int]:
    """(aliases, versions, $LATEST's MemorySize)."""
    aliases = sorted(a["Name"] for a in lam.list_aliases(FunctionName=FUNCTION)["Aliases"])
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]]
    return aliases, versions, lam.get_function_configuration(FunctionName=FUNCTION)["MemorySize"]


def answer(memory: int, cold: bool = False, error: str | None = None) -> dict[str, Any]:
    duration = DURATION_MS[memory]
    init = "\tInit Duration: 350.00 ms" if cold else ""
    tail = (
        f"START RequestId: r1 Version: 2\nEND RequestId: r1\nREPORT RequestId: r1\tDuration: {duration:.2f} ms\t"
        f"Billed Duration: {int(duration) + 1} ms\tMemory Size: {memory} MB\tMax Memory Used: 90 MB{init}\t\n"
    )
    body = json.dumps({"errorType": error, "errorMessage": error} if error else {"outputs": []}).encode()
    response: dict[str, Any] = {
        "StatusCode": 200,
        "LogResult": base64.b64encode(tail.encode()).decode(),
        "ExecutedVersion": "2",
        "Payload": StreamingBody(io.BytesIO(body), len(body)),
    }
    if error:
        response["FunctionError"] = "Unhandled"
    return response


def expect_setting(stub: Stubber, memory: int, count: int, error: str | None = None) -> None:
    """The cold and `count` warm invocations of one setting, on its temporary alias."""
    for index in range(count + 1):
        params = {
            "FunctionName": FUNCTION,
            "Qualifier": tune_alias(memory, "x86_64"),
            "InvocationType": "RequestResponse",
            "LogType": "Tail",
            "Payload": REQUEST,
        }
        stub.add_response("invoke", answer(memory, cold=index == 0, error=error), params)
        if error:
            return


class Spy:
    """Invokes through the stubbed client; records, per call, the memory of the version the alias names
    (read from moto), and can fail at a given call."""

    def __init__(self, lam: Any, functions: Functions, fail_at: int | None = None) -> None:
        self.lam, self.functions, self.fail_at = lam, functions, fail_at
        self.seen: list[tuple[str, str, int]] = []

    def invoke(self, ref: FunctionRef, payload: bytes, qualifier: str) -> InvokeResult:
        if len(self.seen) + 1 == self.fail_at:
            raise KeyboardInterrupt
        version = self.lam.get_alias(FunctionName=FUNCTION, Name=qualifier)["FunctionVersion"]
        config = self.lam.get_function_configuration(FunctionName=FUNCTION, Qualifier=version)
        self.seen.append((qualifier, version, config["MemorySize"]))
        return self.functions.invoke(ref, payload, qualifier)


def runner(lam: Any, invoker: Any) -> AwsTuneRunner:
    return AwsTuneRunner(offline_context(), REF, functions=invoker, poll_seconds=0)


@pytest.fixture
def stubbed() -> Iterator[tuple[Functions, Stubber]]:
    """Functions on a client of its own whose invocations the Stubber answers (moto answers the rest)."""
    functions = Functions(offline_context())
    with Stubber(functions.aws.client("lambda")) as stub:
        yield functions, stub


def test_each_memory_size_runs_on_its_own_temporary_version_and_all_of_them_are_removed(lam, stubbed):
    functions, stub = stubbed
    for memory in (128, 1769):
        expect_setting(stub, memory, count=3)
    spy = Spy(lam, functions)
    result = tune(
        runner(lam, spy),
        "digits",
        REQUEST,
        prices=US_EAST_1,
        memories=[128, 1769],
        archs=["x86_64", "arm64"],
        count=3,
    )
    stub.assert_no_pending_responses()
    assert {(alias, memory) for alias, _, memory in spy.seen} == {
        ("sls-tune-128-x86-64", 128),
        ("sls-tune-1769-x86-64", 1769),
    }
    assert "1" not in {version for _, version, _ in spy.seen}  # new versions, not the deployed one
    small = result.row(128, "x86_64")
    assert small is not None and small.source == "measured" and small.p50_ms == 160.0
    assert small.init_ms == 350.0 and small.billed_mean_ms == 161.0
    assert {r.source for r in result.rows if r.arch == "arm64"} == {"projected"}
    assert state(lam) == (["live"], ["$LATEST", "1"], 1024)


def test_an_error_in_the_middle_still_deletes_every_temporary_alias_and_version(lam, stubbed):
    functions, stub = stubbed
    expect_setting(stub, 128, count=2)
    stub.add_client_error("invoke", service_error_code="ServiceException", service_message="Lambda is down")
    with pytest.raises(TargetError, match="Lambda is down"):
        tune(
            runner(lam, functions),
            "digits",
            REQUEST,
            prices=US_EAST_1,
            memories=[128, 1769],
            archs=["x86_64"],
            count=2,
        )
    assert state(lam) == (["live"], ["$LATEST", "1"], 1024)


def test_ctrl_c_during_a_measurement_removes_the_temporary_version_and_restores_memory(lam, stubbed):
    functions, stub = stubbed
    expect_setting(stub, 128, count=2)
    spy = Spy(lam, functions, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        tune(runner(lam, spy), "digits", REQUEST, prices=US_EAST_1, memories=[128], archs=["x86_64"], count=2)
    assert spy.seen and spy.seen[0][0] == "sls-tune-128-x86-64"
    assert state(lam) == (["live"], ["$LATEST", "1"], 1024)


def test_a_setting_whose_function_fails_is_marked_failed_and_the_others_are_measured(lam, stubbed):
    functions, stub = stubbed
    expect_setting(stub, 128, count=2, error="Runtime.OutOfMemory")
    expect_setting(stub, 1769, count=2)
    result = tune(
        runner(lam, functions),
        "digits",
        REQUEST,
        prices=US_EAST_1,
        memories=[128, 1769],
        archs=["x86_64"],
        count=2,
    )
    failed = result.row(128, "x86_64")
    assert failed is not None and failed.source == "failed" and "Runtime.OutOfMemory" in failed.note
    assert result.chosen.memory_mb == 1769
    assert state(lam) == (["live"], ["$LATEST", "1"], 1024)


def test_the_deployed_version_lambda_hands_back_for_an_unchanged_setting_is_never_deleted(lam, stubbed):
    functions, stub = stubbed
    expect_setting(stub, 1024, count=1)
    spy = Spy(lam, functions)
    tune(runner(lam, spy), "digits", REQUEST, prices=US_EAST_1, memories=[1024], archs=["x86_64"], count=1)
    assert spy.seen[0][1] == "1"  # $LATEST at 1024 MB is version 1: publish_version returned it
    assert state(lam) == (["live"], ["$LATEST", "1"], 1024)


def test_what_cannot_be_restored_is_named_with_the_command_that_restores_it(lam, stubbed):
    functions, _ = stubbed
    tuner = runner(lam, functions)
    with tuner.setting(128):
        lam.delete_function(FunctionName=FUNCTION)  # removed by someone else while it was being tuned
    with pytest.raises(TargetError) as info:
        tuner.close()
    assert "could not clean up" in info.value.message
    assert info.value.hint.endswith(
        f"aws lambda update-function-configuration --function-name {FUNCTION} --memory-size 1024"
    )
    assert tuner.leftovers() == ((), (), True)  # the alias and version went with the function


def test_the_runner_of_a_deployed_stack_tunes_its_function_beside_live(tmp_path):
    with mock_aws(), cloudformation_with_sam():
        config, builds = make_project(tmp_path / "project", {"digits": "digits v1"})
        aws = target(config)
        aws.deploy(builds["digits"])
        client = boto3.client("lambda", region_name=REGION)
        tuner = open_tune_runner(aws, "digits")
        assert tuner.arch == "x86_64" and tuner.target == "aws" and tuner.cpu_scaled
        with tuner.setting(512) as trial:
            alias = client.get_alias(FunctionName=FUNCTION, Name=trial.qualifier)
            version = client.get_function_configuration(
                FunctionName=FUNCTION, Qualifier=alias["FunctionVersion"]
            )
            assert trial.qualifier == "sls-tune-512-x86-64" and version["MemorySize"] == 512
        tuner.close()
        assert state(client) == (["live"], ["$LATEST", "1"], 1024)
