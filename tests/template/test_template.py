"""The SAM template: what it deploys (checked on the SAM transform's output), least privilege, lint, stability."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import PurePosixPath

import pytest
import yaml

from sls_deploy.core.errors import TemplateError
from sls_deploy.core.names import function_name, logical_ids, version_model_sha256
from sls_deploy.template import (
    FunctionSpec,
    LayerRef,
    TemplateSpec,
    render_template,
    rewrite_artifact_uris,
    to_yaml,
    translate_template,
    validate_template,
)
from sls_deploy.template.rendered import template_functions, without_function

RUNTIME = LayerRef(PurePosixPath(".sls-deploy/build/runtime-x86_64-py3.12.zip"), "a" * 64)


def model(name: str, **settings) -> FunctionSpec:
    values = {"memory": 1024, "timeout": 30, "arch": "x86_64", "runtime": "python3.12"} | settings
    return FunctionSpec(
        name=name, model_layer=LayerRef(f".sls-deploy/build/{name}/model-layer.zip", "b" * 64), **values
    )


def spec(*functions: FunctionSpec, retention: int = 14) -> TemplateSpec:
    return TemplateSpec(
        project="demo", runtime_layer=RUNTIME, functions=functions, log_retention_days=retention
    )


ONE = spec(model("digits"))
TWO = spec(
    model("digits"),
    model(
        "iris", memory=2048, public=True, reserved_concurrency=3, environment={"SLS_S3_OUTPUT_PREFIX": "out/"}
    ),
)


@pytest.fixture(scope="module")
def translated_two() -> dict:
    return translate_template(render_template(TWO), "us-east-1")


def resources_of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def policy_statements(template: dict):
    """Every IAM statement in the template: role trust and inline policies, standalone policies."""
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents.append(props["AssumeRolePolicyDocument"])
            documents.extend(p["PolicyDocument"] for p in props.get("Policies", []))
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            statements = document["Statement"]
            yield from statements if isinstance(statements, list) else [statements]


# --- rendering ----------------------------------------------------------------------------------------------


def test_one_model_renders_a_shared_runtime_layer_and_the_models_layer_log_group_role_and_function():
    template = render_template(ONE)
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert list(template["Resources"]) == [
        "RuntimeLayer",
        "DigitsModelLayer",
        "DigitsLogGroup",
        "DigitsRole",
        "DigitsFunction",
        "ProjectDashboard",
    ]
    fn = template["Resources"]["DigitsFunction"]["Properties"]
    assert fn["Handler"] == "sls_inference.handler.lambda_handler"
    assert fn["CodeUri"] == "functions/inference/"
    assert (fn["Runtime"], fn["Architectures"], fn["MemorySize"], fn["Timeout"]) == (
        "python3.12",
        ["x86_64"],
        1024,
        30,
    )
    assert fn["Layers"] == [{"Ref": "RuntimeLayer"}, {"Ref": "DigitsModelLayer"}]
    assert fn["AutoPublishAlias"] == "live"
    assert fn["Environment"]["Variables"] == {
        "SLS_MODEL_DIR": "/opt/model",
        "POWERTOOLS_SERVICE_NAME": "digits",
        "POWERTOOLS_METRICS_NAMESPACE": "SlsDeploy",
    }
    assert "ReservedConcurrentExecutions" not in fn
    runtime_layer = template["Resources"]["RuntimeLayer"]["Properties"]
    assert runtime_layer["ContentUri"] == ".sls-deploy/build/runtime-x86_64-py3.12.zip"
    assert runtime_layer["RetentionPolicy"] == "Retain"
    assert template["Metadata"]["sls-deploy"]["layers_sha256"] == {
        "RuntimeLayer": "a" * 64,
        "DigitsModelLayer": "b" * 64,
    }


def test_function_url_requires_iam_signing_by_default_and_is_open_only_when_public():
    template = render_template(TWO)
    assert template["Resources"]["DigitsFunction"]["Properties"]["FunctionUrlConfig"] == {
        "AuthType": "AWS_IAM"
    }
    assert template["Resources"]["IrisFunction"]["Properties"]["FunctionUrlConfig"] == {"AuthType": "NONE"}


def test_per_model_settings_reach_only_that_models_function():
    resources = render_template(TWO)["Resources"]
    iris, digits = resources["IrisFunction"]["Properties"], resources["DigitsFunction"]["Properties"]
    assert (iris["MemorySize"], iris["ReservedConcurrentExecutions"]) == (2048, 3)
    assert iris["Environment"]["Variables"]["SLS_S3_OUTPUT_PREFIX"] == "out/"
    assert iris["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "iris"
    assert "SLS_S3_OUTPUT_PREFIX" not in digits["Environment"]["Variables"]
    assert iris["Layers"] == [{"Ref": "RuntimeLayer"}, {"Ref": "IrisModelLayer"}]


def test_each_function_logs_to_its_own_log_group_with_the_configured_retention():
    template = render_template(spec(model("digits"), retention=30))
    log_group = template["Resources"]["DigitsLogGroup"]["Properties"]
    assert log_group == {"LogGroupName": "/aws/lambda/demo-digits", "RetentionInDays": 30}
    fn = template["Resources"]["DigitsFunction"]["Properties"]
    assert fn["FunctionName"] == "demo-digits"
    assert fn["LoggingConfig"] == {"LogGroup": {"Ref": "DigitsLogGroup"}}


def test_outputs_give_function_arn_alias_arn_and_url_per_model():
    outputs = render_template(ONE)["Outputs"]
    assert outputs["DigitsFunctionArn"]["Value"] == {"Fn::GetAtt": ["DigitsFunction", "Arn"]}
    assert outputs["DigitsAliasArn"]["Value"] == {"Ref": "DigitsFunction.Alias"}
    assert outputs["DigitsUrl"]["Value"] == {"Fn::GetAtt": ["DigitsFunctionUrl", "FunctionUrl"]}


def test_yaml_round_trips_to_the_same_template():
    template = render_template(TWO)
    text = to_yaml(template)
    assert not re.search(r"(^|\s)!\w", text)  # no custom tags such as !Ref or !GetAtt
    assert yaml.safe_load(text) == template


def test_rendering_is_deterministic_and_independent_of_the_order_models_are_given():
    first = to_yaml(render_template(TWO))
    assert to_yaml(render_template(TWO)) == first
    assert to_yaml(render_template(spec(*reversed(TWO.functions)))) == first


def test_logical_ids_are_camel_case_unique_and_stable_across_similar_names():
    names = ["digits", "digits-v2", "Digits_V2", "digits_v2", "Digits"]
    ids = {name: logical_ids(name)["function"] for name in names}
    assert ids["digits"] == "DigitsFunction"
    assert ids["digits-v2"] == "DigitsV2Function"
    assert len(set(ids.values())) == len(names)
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", value) for value in ids.values())
    assert {name: logical_ids(name)["function"] for name in names} == ids
    template = render_template(spec(*(model(name) for name in names)))
    assert len(template["Resources"]) == 1 + 4 * len(names) + 1  # runtime layer, 4 per model, dashboard


def test_adding_a_model_leaves_the_existing_models_resources_unchanged():
    alone = render_template(spec(model("digits")))["Resources"]
    together = render_template(spec(model("digits"), model("Digits_V2")))["Resources"]
    shared = "ProjectDashboard"  # the project's dashboard gains a row for the new model
    assert {k: together[k] for k in alone if k != shared} == {k: v for k, v in alone.items() if k != shared}


def test_long_names_are_cut_to_lambdas_64_character_limit_and_stay_distinct():
    project = "a-very-long-project-name-that-goes-on-and-on"
    first, second = function_name(project, "model-number-one-x"), function_name(project, "model-number-one-y")
    for value in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value)
    assert first != second
    assert function_name("my project!", "digits") == "my-project--digits"


def test_rewrite_artifact_uris_points_code_and_layers_elsewhere_without_touching_the_original():
    template = render_template(ONE)
    packaged = rewrite_artifact_uris(template, lambda logical_id, uri: f"s3://bucket/{logical_id}")
    assert packaged["Resources"]["DigitsFunction"]["Properties"]["CodeUri"] == "s3://bucket/DigitsFunction"
    assert packaged["Resources"]["RuntimeLayer"]["Properties"]["ContentUri"] == "s3://bucket/RuntimeLayer"
    assert template["Resources"]["DigitsFunction"]["Properties"]["CodeUri"] == "functions/inference/"


@pytest.mark.parametrize(
    ("bad_spec", "fragment"),
    [
        (spec(model("digits"), retention=13), "retention"),
        (spec(model("digits"), model("iris", arch="arm64")), "one runtime layer"),
        (spec(model("digits", environment={"AWS_REGION": "eu-west-1"})), "AWS_REGION"),
        (spec(model("digits", memory=64)), "memory"),
        (spec(model("digits"), model("digits")), "twice"),
        (spec(model("9lives")), "cannot name"),
        (spec(), "no functions"),
    ],
)
def test_specs_lambda_would_refuse_raise_a_template_error_with_a_hint(bad_spec, fragment):
    with pytest.raises(TemplateError) as info:
        render_template(bad_spec)
    assert fragment in info.value.message
    assert info.value.hint


# --- what the SAM transform makes of it ---------------------------------------------------------------------


def test_translation_yields_function_live_alias_url_layers_and_log_groups(translated_two):
    assert set(resources_of_type(translated_two, "AWS::Lambda::Function")) == {
        "DigitsFunction",
        "IrisFunction",
    }
    aliases = resources_of_type(translated_two, "AWS::Lambda::Alias")
    assert sorted(a["Properties"]["Name"] for a in aliases.values()) == ["live", "live"]
    urls = resources_of_type(translated_two, "AWS::Lambda::Url")
    assert {u["Properties"]["AuthType"] for u in urls.values()} == {"AWS_IAM", "NONE"}
    assert all(u["Properties"]["TargetFunctionArn"]["Ref"].endswith("Aliaslive") for u in urls.values())
    layers = resources_of_type(translated_two, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1 + 2
    assert {layer["DeletionPolicy"] for layer in layers.values()} == {"Retain"}
    log_groups = resources_of_type(translated_two, "AWS::Logs::LogGroup")
    assert {
        g["Properties"]["LogGroupName"]: g["Properties"]["RetentionInDays"] for g in log_groups.values()
    } == {"/aws/lambda/demo-digits": 14, "/aws/lambda/demo-iris": 14}


def test_only_the_public_function_gets_a_public_invoke_permission(translated_two):
    permissions = resources_of_type(translated_two, "AWS::Lambda::Permission")
    assert permissions and all(name.startswith("IrisFunction") for name in permissions)
    assert all(
        p["Properties"]["FunctionName"] == {"Ref": "IrisFunctionAliaslive"} for p in permissions.values()
    )


def _resource_is_everything(resource) -> bool:
    """True for "*" and for ARNs whose resource part is only "*" (every bucket or queue of an account)."""
    return isinstance(resource, str) and (
        resource == "*"
        or re.fullmatch(r"arn:[^:]*:[^:]*:[^:]*:[^:]*:\*", resource) is not None
        or resource.endswith(":::*")
    )


def test_no_iam_statement_grants_a_wildcard_action_and_no_managed_policy_is_attached(translated_two):
    statements = list(policy_statements(translated_two))
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(action != "*" and not action.endswith(":*") for action in actions), statement
        # Every permission names its resources: a bucket, queue or log group, never all of them.
        if statement["Effect"] == "Allow" and "Principal" not in statement:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            assert not any(_resource_is_everything(r) for r in resources), statement
    roles = resources_of_type(translated_two, "AWS::IAM::Role")
    assert set(roles) == {"DigitsRole", "IrisRole"}  # ours only: SAM generated none
    assert not any("ManagedPolicyArns" in role["Properties"] for role in roles.values())


def test_log_permissions_are_scoped_to_the_functions_own_log_group(translated_two):
    role = translated_two["Resources"]["DigitsRole"]["Properties"]
    (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Fn::GetAtt": ["DigitsLogGroup", "Arn"]}
    assert translated_two["Resources"]["DigitsFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["DigitsRole", "Arn"]
    }


def _published_version_id(template_spec: TemplateSpec) -> str:
    (version,) = resources_of_type(translate_template(render_template(template_spec)), "AWS::Lambda::Version")
    return version


def test_a_new_model_layer_or_setting_publishes_a_new_version_behind_live_and_nothing_else_does():
    def with_layer(sha: str, memory: int = 1024) -> TemplateSpec:
        layer = LayerRef(f"s3://bucket/artifacts/{sha}.zip", sha)
        return spec(replace(model("digits", memory=memory), model_layer=layer))

    first = _published_version_id(with_layer("1" * 64))
    assert _published_version_id(with_layer("1" * 64)) == first
    assert _published_version_id(with_layer("2" * 64)) != first  # same code, new model: a new version
    assert _published_version_id(with_layer("1" * 64, memory=2048)) != first


def test_each_published_version_records_the_models_sha256():
    template = render_template(spec(model("digits", model_sha256="c" * 64)))
    description = template["Resources"]["DigitsFunction"]["Properties"]["VersionDescription"]
    assert version_model_sha256(description) == "c" * 64
    assert "VersionDescription" not in render_template(ONE)["Resources"]["DigitsFunction"]["Properties"]


def test_a_model_taken_out_of_a_template_leaves_the_others_untouched():
    two = render_template(TWO)
    assert template_functions(two) == {"digits": "DigitsFunction", "iris": "IrisFunction"}
    trimmed = without_function(two, "iris")
    assert template_functions(trimmed) == {"digits": "DigitsFunction"}
    assert not [k for k in [*trimmed["Resources"], *trimmed["Outputs"]] if k.startswith("Iris")]
    assert trimmed["Resources"]["DigitsFunction"] == two["Resources"]["DigitsFunction"]
    assert "IrisModelLayer" not in trimmed["Metadata"]["sls-deploy"]["layers_sha256"]
    assert set(resources_of_type(translate_template(trimmed), "AWS::Lambda::Function")) == {"DigitsFunction"}


WITH_PROCESSING = spec(
    replace(
        model("encoder"), processing_layer=LayerRef(".sls-deploy/build/encoder/processing.zip", "d" * 64)
    ),
    model("digits"),
)


def test_a_processing_layer_mounts_between_the_runtime_and_the_model_layer_of_its_function_only():
    template = render_template(WITH_PROCESSING)
    resources = template["Resources"]
    assert resources["EncoderFunction"]["Properties"]["Layers"] == [
        {"Ref": "RuntimeLayer"},
        {"Ref": "EncoderProcessingLayer"},
        {"Ref": "EncoderModelLayer"},
    ]
    assert resources["DigitsFunction"]["Properties"]["Layers"] == [
        {"Ref": "RuntimeLayer"},
        {"Ref": "DigitsModelLayer"},
    ]
    layer = resources["EncoderProcessingLayer"]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.12"] and layer["CompatibleArchitectures"] == ["x86_64"]
    assert template["Metadata"]["sls-deploy"]["layers_sha256"]["EncoderProcessingLayer"] == "d" * 64
    assert validate_template(template, "us-east-1") == []
    trimmed = without_function(template, "encoder")
    assert "EncoderProcessingLayer" not in trimmed["Resources"]
    assert "EncoderProcessingLayer" not in trimmed["Metadata"]["sls-deploy"]["layers_sha256"]


def test_a_new_processing_layer_publishes_a_new_version():
    def with_processing(sha: str) -> TemplateSpec:
        layer = LayerRef(f"s3://bucket/artifacts/{sha}.zip", sha)
        return spec(replace(model("digits"), processing_layer=layer))

    first = _published_version_id(with_processing("1" * 64))
    assert _published_version_id(with_processing("2" * 64)) != first


def test_alias_output_resolves_to_the_live_alias(translated_two):
    assert translated_two["Outputs"]["DigitsAliasArn"]["Value"] == {"Ref": "DigitsFunctionAliaslive"}


# --- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template_spec", [ONE, TWO], ids=["one-model", "two-models"])
def test_rendered_templates_translate_and_lint_clean(template_spec):
    assert validate_template(render_template(template_spec), "us-east-1") == []


def test_validation_reports_what_cfn_lint_finds():
    template = render_template(ONE)
    template["Resources"]["DigitsFunction"]["Properties"]["Runtime"] = "python2.7"
    problems = validate_template(template)
    assert any("E2533" in p and p.startswith("SAM template") for p in problems)
    assert any("E2533" in p and p.startswith("translated template") for p in problems)


def test_validation_reports_a_template_the_sam_transform_rejects():
    template = render_template(ONE)
    template["Resources"]["DigitsFunction"]["Properties"]["FunctionUrlConfig"] = {"AuthType": "SIGV5"}
    (problem,) = validate_template(template)
    assert "SAM transform rejects" in problem and "AuthType" in problem


def test_missing_validators_raise_a_template_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cfnlint", None)  # what `import cfnlint` sees when it is not installed
    with pytest.raises(TemplateError) as info:
        validate_template(render_template(ONE))
    assert "cfn-lint" in info.value.message
    assert "sls-deploy[validate]" in info.value.hint


def test_a_build_record_keeps_the_processing_layer_for_the_next_render(tmp_path):
    from sls_deploy.core.config import ProjectConfig
    from sls_deploy.template.project import record_function, recorded_functions

    config = ProjectConfig(project_dir=tmp_path)
    build_dir = tmp_path / ".sls-deploy" / "build"
    layer = LayerRef(build_dir / "encoder" / "processing.zip", "d" * 64)
    for function in (replace(model("encoder"), processing_layer=layer), model("digits")):
        (build_dir / function.name).mkdir(parents=True)
        record_function(config, function, build_dir / function.name)
    read = {f.name: f for f in recorded_functions(config, build_dir)}
    recorded = read["encoder"].processing_layer
    assert recorded is not None and recorded.sha256 == "d" * 64
    assert (tmp_path / recorded.uri).resolve() == layer.path_or_uri
    assert read["digits"].processing_layer is None
