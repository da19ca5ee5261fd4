"""The aws target against moto in this process: the artifact bucket, uploads, change sets and stack events,
the `live` alias, remove and purge. moto runs the SAM transform and the Lambda alias/URL resources through
aws_emulator (moto 5 does neither); what it cannot do at all is covered by test_stubbed.py."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest
import yaml
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends

from sls_deploy.core.errors import ConfigError, NotDeployedError, TargetError
from sls_deploy.monitor.status import project_status
from sls_deploy.targets.aws.artifacts import NONCURRENT_DAYS, ArtifactBucket, artifact_key, bucket_name
from sls_deploy.targets.aws.session import connect
from sls_deploy.template.monitoring import CanarySpec
from tests.support.aws_emulator import cloudformation_with_sam
from tests.support.aws_helpers import ACCOUNT, REGION, STACK, make_project, target

BUCKET = bucket_name(ACCOUNT, REGION)


@pytest.fixture
def aws():
    with mock_aws(), cloudformation_with_sam():
        yield


@pytest.fixture
def project(tmp_path, aws):
    return make_project(tmp_path / "project", {"digits": "digits v1"})


def live_version(function_name: str) -> str:
    return boto3.client("lambda", region_name=REGION).get_alias(FunctionName=function_name, Name="live")[
        "FunctionVersion"
    ]


# --- the artifact bucket ------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_the_artifact_bucket_is_created_private_encrypted_versioned_with_a_lifecycle(
    monkeypatch, tmp_path, region
):
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    with mock_aws():
        config, _ = make_project(tmp_path, {"digits": "v1"})
        bucket = ArtifactBucket(connect(config), progress=lambda _: None)
        assert bucket.ensure() is True
        assert bucket.ensure() is False  # found, left as it is
        s3 = boto3.client("s3", region_name=region)
        name = f"sls-deploy-artifacts-{ACCOUNT}-{region}"
        assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] in (
            None if region == "us-east-1" else region,
        )
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        (rule,) = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
        rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
        purged = rules["expire-purged-artifacts"]
        assert purged["NoncurrentVersionExpiration"]["NoncurrentDays"] == NONCURRENT_DAYS
        # Current artifacts never expire: a stack may need them again to roll back.
        artifact_rules = [r for r in rules.values() if r["Filter"].get("Prefix", "") in ("", "artifacts/")]
        assert not any("Days" in r.get("Expiration", {}) for r in artifact_rules)


def test_artifacts_upload_under_their_sha256_once(project):
    config, builds = project
    bucket = ArtifactBucket(connect(config), progress=lambda _: None)
    code = builds["digits"].code
    zips = {"DigitsFunction": _local(code)}
    assert bucket.upload(zips.values()) == [f"s3://{BUCKET}/artifacts/{code.sha256}.zip"]
    assert bucket.upload(zips.values()) == []  # present: skipped
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=artifact_key(code.sha256))
    assert body["Body"].read() == code.zip_path.read_bytes()


def _local(artifact):
    from sls_deploy.targets.aws.artifacts import LocalZip

    return LocalZip(artifact.zip_path, artifact.sha256)


# --- deploy -------------------------------------------------------------------------------------------------


def test_first_deploy_creates_the_stack_and_reports_the_function_url_arn_and_live_version(project):
    config, builds = project
    messages: list[str] = []
    deployment = target(config, messages).deploy(builds["digits"])
    assert (deployment.target, deployment.name, deployment.version, deployment.changed) == (
        "aws",
        "digits",
        "1",
        True,
    )
    assert deployment.function_id == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:demo-digits"
    assert deployment.endpoint.startswith("https://") and ".lambda-url." in deployment.endpoint
    assert deployment.routing is not None and deployment.routing.version == "1"
    assert any("CREATE_COMPLETE" in m for m in messages)  # stack events reach the progress view
    keys = {
        o["Key"] for o in boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)["Contents"]
    }
    assert keys == {artifact_key(a.sha256) for a in (builds["digits"].code, *builds["digits"].layers)}
    stack = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)["Stacks"][0]
    assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {"sls-deploy:project": "demo"}


def test_deploying_the_same_project_again_changes_nothing(project):
    config, builds = project
    messages: list[str] = []
    aws = target(config, messages)
    first = aws.deploy(builds["digits"])
    messages.clear()
    again = aws.deploy(builds["digits"])
    assert (again.version, again.changed) == (first.version, False)
    assert any(m.startswith("no changes") for m in messages)
    summaries = boto3.client("cloudformation", region_name=REGION).list_change_sets(StackName=STACK)[
        "Summaries"
    ]
    assert [s["ExecutionStatus"] for s in summaries] == ["EXECUTE_COMPLETE"]  # the empty one was deleted


def test_a_dry_run_plans_the_create_then_discarding_it_leaves_no_stack_and_no_change_set(project):
    config, builds = project
    aws = target(config)
    plan = aws.plan(builds["digits"])
    assert plan.target == "aws" and STACK in plan.where
    assert {(c.action, c.resource_type) for c in plan.changes} >= {
        ("Add", "AWS::Lambda::Function"),
        ("Add", "AWS::Lambda::Alias"),
        ("Add", "AWS::Lambda::LayerVersion"),
    }
    assert len(plan.uploads) == 3
    assert plan.steps[0].startswith("create the artifact bucket")
    assert sum(step.startswith("upload ") for step in plan.steps) == 3
    assert any(step.startswith(f"create stack {STACK}: ") and "to add" in step for step in plan.steps)
    aws.discard(plan)
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == []
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []  # nothing uploaded


def test_apply_executes_the_change_set_its_plan_created(project):
    config, builds = project
    aws = target(config)
    plan = aws.plan(builds["digits"])
    deployment = aws.apply(plan)
    assert (deployment.version, deployment.changed) == ("1", True)
    cfn = boto3.client("cloudformation", region_name=REGION)
    summaries = cfn.list_change_sets(StackName=STACK)["Summaries"]
    assert [s["ChangeSetId"] for s in summaries] == [plan.handle.change_set.change_set_id]
    assert summaries[0]["ExecutionStatus"] == "EXECUTE_COMPLETE"


def test_a_build_without_a_rendered_template_is_refused_with_a_hint(project):
    config, builds = project
    with pytest.raises(TargetError) as info:
        target(config).plan(replace(builds["digits"], template=None))
    assert "no rendered template" in info.value.message and "push" in info.value.hint


def test_a_dry_run_after_a_deploy_reports_no_changes(project):
    config, builds = project
    aws = target(config)
    aws.deploy(builds["digits"])
    plan = aws.plan(builds["digits"])
    assert plan.changes == () and plan.uploads == ()
    assert any("no changes" in n for n in plan.notes)


def test_a_stack_left_in_rollback_complete_is_deleted_before_the_create(project):
    config, builds = project
    messages: list[str] = []
    aws = target(config, messages)
    aws.deploy(builds["digits"])
    (stack,) = cloudformation_backends[ACCOUNT][REGION].stacks.values()
    stack.status = "ROLLBACK_COMPLETE"  # what a failed first create leaves behind
    deployment = aws.deploy(builds["digits"])
    assert any("ROLLBACK_COMPLETE" in m and "deleting" in m for m in messages)
    assert (deployment.version, deployment.changed) == ("1", True)  # a fresh stack, a fresh function
    info = boto3.client("cloudformation", region_name=REGION).describe_stacks(StackName=STACK)["Stacks"][0]
    assert info["StackId"] != stack.stack_id and info["StackStatus"] == "CREATE_COMPLETE"


def test_a_stack_busy_with_another_operation_is_refused_with_a_hint(project):
    config, builds = project
    aws = target(config)
    aws.deploy(builds["digits"])
    (stack,) = cloudformation_backends[ACCOUNT][REGION].stacks.values()
    stack.status = "UPDATE_IN_PROGRESS"
    with pytest.raises(TargetError) as info:
        aws.deploy(builds["digits"])
    assert "busy" in info.value.message and "wait" in info.value.hint


def test_a_canary_needs_the_deployment_preference_a_canary_build_renders(project):
    config, builds = project
    with pytest.raises(TargetError) as info:
        target(config).deploy(builds["digits"], canary_percent=10)
    assert "deployment preference" in info.value.message and "--canary" in info.value.hint


def test_a_canary_push_deploys_through_codedeploy_wired_to_the_models_alarms(tmp_path, aws):
    config, builds = make_project(tmp_path, {"digits": "v1"}, canary=CanarySpec(10, 5))
    deployment = target(config).deploy(builds["digits"], canary_percent=10)
    assert deployment.version == "1"
    resources = {
        r["LogicalResourceId"]: r["ResourceType"]
        for r in boto3.client("cloudformation", region_name=REGION).list_stack_resources(StackName=STACK)[
            "StackResourceSummaries"
        ]
    }
    assert "AWS::CodeDeploy::DeploymentGroup" in resources.values()
    assert {"DigitsErrorsAlarm", "DigitsLatencyAlarm", "DigitsDriftAlarm", "ProjectDashboard"} <= set(
        resources
    )
    states = target(config).alarms("digits")
    assert [(s.name, s.rule) for s in states] == [
        ("demo-digits-errors", "errors"),
        ("demo-digits-p99-duration", "p99-duration"),
        ("demo-digits-input-drift", "input-drift"),
    ]
    assert {s.threshold for s in states} == {5.0, 24000.0, 0.25}


def test_keep_versions_prunes_old_versions_no_alias_routes_to(tmp_path, aws):
    config, builds = make_project(tmp_path, {"digits": "v1"}, keep_versions=1)
    aws = target(config)
    aws.deploy(builds["digits"])
    lam = boto3.client("lambda", region_name=REGION)
    for memory in (256, 512):  # two more versions, published beside the stack
        lam.update_function_configuration(FunctionName="demo-digits", MemorySize=memory)
        lam.publish_version(FunctionName="demo-digits")
    aws._prune(aws.stack.template())
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="demo-digits")["Versions"]]
    assert versions == ["$LATEST", "1", "3"]  # 1: live routes to it; 3: the newest one


# --- versions and the live alias ----------------------------------------------------------------------------


@pytest.fixture
def two_versions(project):
    """digits deployed, then a version 2 published and `live` sending 10 % to it (a canary made by hand)."""
    config, builds = project
    aws = target(config)
    aws.deploy(builds["digits"])
    lam = boto3.client("lambda", region_name=REGION)
    lam.update_function_configuration(FunctionName="demo-digits", MemorySize=2048)
    lam.publish_version(FunctionName="demo-digits")
    lam.update_alias(
        FunctionName="demo-digits",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    return aws


def test_versions_lists_each_version_with_its_model_and_the_aliases_routing_to_it(two_versions):
    result = two_versions.versions("digits")
    assert [(v.version, v.memory, v.aliases) for v in result.versions] == [
        ("1", 1024, ("live",)),
        ("2", 2048, ("live",)),
    ]
    assert result.versions[0].model_sha256 == f"{len('digits v1'):064x}"  # from the version's description
    (alias,) = result.aliases
    assert (alias.version, alias.extra_version, alias.extra_weight) == ("1", "2", 0.1)


def test_promote_sends_all_traffic_to_the_canary_version(two_versions):
    change = two_versions.promote("digits")
    assert (change.before.extra_version, change.after.version, change.after.extra_version) == ("2", "2", None)
    assert live_version("demo-digits") == "2"
    with pytest.raises(TargetError, match="no canary"):
        two_versions.promote("digits")


def test_rollback_during_a_canary_returns_to_the_version_it_started_from(two_versions):
    change = two_versions.rollback("digits")
    assert (change.after.version, change.after.extra_version) == ("1", None)


def test_rollback_to_a_named_version_and_to_one_that_does_not_exist(two_versions):
    two_versions.promote("digits")
    assert two_versions.rollback("digits").after.version == "1"  # the one before 2
    assert two_versions.rollback("digits", to="2").after.version == "2"
    with pytest.raises(NotDeployedError) as info:
        two_versions.rollback("digits", to="7")
    assert "1, 2" in info.value.hint


def test_operations_on_an_undeployed_project_say_how_to_deploy(project):
    config, _ = project
    aws = target(config)
    with pytest.raises(NotDeployedError) as info:
        aws.versions("digits")
    assert STACK in info.value.message and "push" in info.value.hint
    assert aws.list() == []


def test_an_unknown_model_name_lists_the_deployed_ones(project):
    config, builds = project
    aws = target(config)
    aws.deploy(builds["digits"])
    with pytest.raises(NotDeployedError) as info:
        aws.versions("iris")
    assert "digits" in info.value.hint


# --- remove -------------------------------------------------------------------------------------------------


def test_removing_the_last_model_deletes_the_stack_its_layers_and_with_purge_its_artifacts(project):
    config, builds = project
    aws = target(config)
    aws.deploy(builds["digits"])
    result = aws.remove("digits", purge=True)
    assert (result.target, result.name, result.versions) == ("aws", "digits", ("1",))
    assert len(result.purged) == 3
    cfn = boto3.client("cloudformation", region_name=REGION)
    assert [s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]] == []
    assert boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert not (config.project_dir / "template.yaml").exists()  # the model left the project
    assert not (config.state_path / "build" / "digits").exists()


def test_removing_one_of_two_models_updates_the_stack_and_keeps_the_other(tmp_path, aws):
    config, builds = make_project(tmp_path, {"digits": "digits v1", "iris": "iris v1"})
    aws = target(config)
    aws.deploy(builds["digits"])
    result = aws.remove("iris", purge=True)
    assert result.purged == (f"s3://{BUCKET}/{artifact_key(builds['iris'].layers[-1].sha256)}",)
    assert [d.name for d in aws.list()] == ["digits"]
    assert "iris" not in (config.project_dir / "template.yaml").read_text()
    with pytest.raises(NotDeployedError):
        aws.versions("iris")


def test_a_processing_layer_is_uploaded_deployed_with_its_function_and_removed_with_it(tmp_path, aws):
    config, builds = make_project(
        tmp_path, {"encoder": "encoder v1", "digits": "digits v1"}, processing=frozenset({"encoder"})
    )
    aws = target(config)
    aws.deploy(builds["encoder"])
    s3 = boto3.client("s3", region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    processing = builds["encoder"].layers[1]
    assert processing.kind == "processing-layer" and artifact_key(processing.sha256) in keys
    lam = boto3.client("lambda", region_name=REGION)
    deployed = boto3.client("cloudformation", region_name=REGION).get_template(StackName=STACK)[
        "TemplateBody"
    ]
    deployed = deployed if isinstance(deployed, dict) else yaml.safe_load(deployed)
    layers = {
        k: deployed["Resources"][k]["Properties"]["Layers"] for k in ("EncoderFunction", "DigitsFunction")
    }
    assert [ref["Ref"] for ref in layers["EncoderFunction"]] == [
        "RuntimeLayer",
        "EncoderProcessingLayer",
        "EncoderModelLayer",
    ]
    assert [ref["Ref"] for ref in layers["DigitsFunction"]] == ["RuntimeLayer", "DigitsModelLayer"]
    # moto publishes it under a name of its own (the stack resource's), not the template's LayerName, so
    # deleting the retained versions by name is not visible here; the purge of its zip is
    assert "EncoderProcessingLayer" in " ".join(v["LayerName"] for v in lam.list_layers()["Layers"])
    result = aws.remove("encoder", purge=True)
    assert f"s3://{BUCKET}/{artifact_key(processing.sha256)}" in result.purged


def test_purge_keeps_artifacts_another_sls_deploy_stack_still_uses(tmp_path, aws):
    first, builds = make_project(tmp_path / "a", {"digits": "same model"})
    second, other_builds = make_project(tmp_path / "b", {"digits": "same model"}, project="other")
    target(first).deploy(builds["digits"])
    target(second).deploy(other_builds["digits"])
    result = target(first).remove("digits", purge=True)
    assert result.purged == ()  # identical zips: the other stack references all three


# --- connecting -----------------------------------------------------------------------------------------------


def test_missing_credentials_say_how_to_provide_them(without_aws_credentials, tmp_path):
    config, _ = make_project(tmp_path, {"digits": "v1"})
    with pytest.raises(TargetError) as info:
        connect(config)
    assert "no AWS credentials" in info.value.message
    assert "AWS_ACCESS_KEY_ID" in info.value.hint and "aws configure" in info.value.hint


def test_a_missing_region_says_how_to_set_it(without_aws_region, tmp_path):
    config, _ = make_project(tmp_path, {"digits": "v1"})
    with pytest.raises(TargetError) as info:
        connect(config)
    assert "region" in info.value.message and "--region" in info.value.hint


def test_an_unknown_profile_is_a_config_error(tmp_path):
    config, _ = make_project(tmp_path, {"digits": "v1"}, profile="nope")
    with pytest.raises(ConfigError, match="profile 'nope'"):
        connect(config)


def test_a_stack_name_cloudformation_refuses_is_a_config_error(tmp_path):
    config, _ = make_project(tmp_path, {"digits": "v1"}, stack_name="9-lives")
    with pytest.raises(ConfigError) as info:
        connect(config)
    assert "9-lives" in info.value.message and "--stack-name" in info.value.hint


def test_status_on_aws_lists_each_model_with_its_cloudwatch_alarms(project):
    config, builds = project
    aws = target(config)
    aws.deploy(builds["digits"])
    report = project_status(aws)
    (row,) = report.models
    assert (row.name, row.version, row.invocations, row.drift) == ("digits", "1", 0, "no data")
    assert [alarm.rule for alarm in row.alarms] == ["errors", "p99-duration", "input-drift"]
    assert not row.firing
