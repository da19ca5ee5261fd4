"""Helpers for the aws-target tests: a small project on disk (tiny zips, a real template.yaml), targets that
do not wait between polls, and botocore Stubber responses of CloudFormation. The isolated AWS environment
(fake credentials, no config files, the region `REGION`) is tests/conftest.py's, for every test."""

from __future__ import annotations

import datetime
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3

from sls_deploy.core.artifacts import Artifact
from sls_deploy.core.config import ProjectConfig, load_config
from sls_deploy.core.names import DEFAULT_HANDLER, function_environment
from sls_deploy.core.records import FunctionBuild
from sls_deploy.core.zips import write_deterministic_zip
from sls_deploy.targets.aws.session import AwsContext, stack_name
from sls_deploy.targets.aws.target import AwsTarget
from sls_deploy.template.monitoring import CanarySpec
from sls_deploy.template.project import write_project_template
from sls_deploy.template.spec import FunctionSpec, LayerRef

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
PROJECT = "demo"
STACK = f"sls-deploy-{PROJECT}"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/0f1e2d3c"
NOW = datetime.datetime(2026, 11, 29, 8, 0, tzinfo=datetime.UTC)


def _zip(path: Path, files: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sources = []
    for index, (arcname, text) in enumerate(sorted(files.items())):
        source = path.parent / f".{path.stem}-{index}.src"
        source.write_text(text, encoding="utf-8")
        sources.append((source, arcname))
    write_deterministic_zip(sources, path)
    return path


def make_project(
    root: Path,
    models: dict[str, str],
    canary: CanarySpec | None = None,
    processing: frozenset[str] = frozenset(),
    **settings: Any,
) -> tuple[ProjectConfig, dict[str, FunctionBuild]]:
    """A project folder as `sls-deploy build` leaves it, with tiny zips: one model layer per entry of
    `models` (name → model text), a shared runtime layer and code zip, build records and template.yaml
    (with `canary`, as `push --canary` builds it); the models named in `processing` get a processing layer
    too. Each build carries the rendered project template."""
    root.mkdir(parents=True, exist_ok=True)
    config = load_config(root, {"project": PROJECT, "target": "aws", **settings})
    build_dir = config.state_path / "build"
    runtime = Artifact.from_zip(
        "runtime-layer",
        "runtime",
        _zip(build_dir / "runtime-layer.zip", {"python/runtime_marker.py": "VERSION = 1\n"}),
    )
    code = Artifact.from_zip(
        "function-code",
        "sls_inference",
        _zip(
            build_dir / "function-code.zip",
            {"sls_inference/__init__.py": "", "sls_inference/handler.py": "x = 1\n"},
        ),
    )
    builds = {}
    for name, text in models.items():
        layer = Artifact.from_zip(
            "model-layer", name, _zip(build_dir / name / f"model-{name}.zip", {"model/model.json": text})
        )
        extra = ()
        if name in processing:
            zipped = _zip(build_dir / f"processing-{name}.zip", {f"python/{name}_processing.py": "X = 1\n"})
            extra = (Artifact.from_zip("processing-layer", f"processing-{name}", zipped),)
        spec = FunctionSpec.from_config(
            config,
            name,
            LayerRef(layer.zip_path, layer.sha256),
            model_sha256=f"{len(text):064x}",
            canary=canary,
            processing_layer=LayerRef(extra[0].zip_path, extra[0].sha256) if extra else None,
        )
        written = write_project_template(config, spec, runtime, code, build_dir)
        builds[name] = FunctionBuild(
            name=name,
            code=code,
            layers=(runtime, *extra, layer),
            handler=DEFAULT_HANDLER,
            runtime=config.runtime,
            arch=config.arch,
            memory=config.memory,
            timeout=config.timeout,
            environment=function_environment(name),
            model_sha256=f"{len(text):064x}",
        )
    # every build carries the project template as the last build rendered it (all of the project's models)
    return config, {name: replace(b, template=written.document) for name, b in builds.items()}


_SESSIONS: dict[str, boto3.Session] = {}


def offline_context(stack: str = STACK, region: str = REGION) -> AwsContext:
    """A context without the STS check, on a session shared by the tests (botocore then loads each service
    model once per test run instead of once per target)."""
    if region not in _SESSIONS:
        _SESSIONS[region] = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
    return AwsContext(_SESSIONS[region], region, ACCOUNT, stack)


def target(
    config: ProjectConfig, messages: list[str] | None = None, aws: AwsContext | None = None
) -> AwsTarget:
    """An AwsTarget that does not sleep between polls; progress messages collected in `messages`."""
    sink = messages.append if messages is not None else None
    return AwsTarget(config, progress=sink, aws=aws or offline_context(stack_name(config)), poll_seconds=0)


# --- CloudFormation responses for the Stubber -------------------------------------------------------------


def stack_response(status: str, outputs: dict[str, str] | None = None, stack_id: str = STACK_ID) -> dict:
    data: dict[str, Any] = {
        "StackId": stack_id,
        "StackName": STACK,
        "CreationTime": NOW,
        "StackStatus": status,
        "Tags": [{"Key": "sls-deploy:project", "Value": PROJECT}],
    }
    if outputs:
        data["Outputs"] = [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]
    return {"Stacks": [data]}


def event(event_id: str, logical_id: str, kind: str, status: str, reason: str = "") -> dict:
    data = {
        "StackId": STACK_ID,
        "EventId": event_id,
        "StackName": STACK,
        "LogicalResourceId": logical_id,
        "ResourceType": kind,
        "Timestamp": NOW,
        "ResourceStatus": status,
    }
    if reason:
        data["ResourceStatusReason"] = reason
    return data


def events_response(*events: dict) -> dict:
    """describe_stack_events' answer: `events` given oldest first, returned newest first as AWS does."""
    return {"StackEvents": list(reversed(events))}


def not_found(stubber: Any, operation: str = "describe_stacks") -> None:
    stubber.add_client_error(
        operation,
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK} does not exist",
    )


def template_response(template: dict) -> dict:
    return {"TemplateBody": json.dumps(template), "StagesAvailable": ["Original", "Processed"]}
