"""Lambda calls of the aws target: invoke, versions and the `live` alias, pruning old versions and layers;
and each model's function (and the layers) as a deployed template names them.

CloudFormation owns the alias (SAM's AutoPublishAlias): `move_alias` changes it behind the stack's back, which
drift detection reports, and the next deploy that publishes a new version moves it again. Old function
versions and layer versions are retained by the stack (DeletionPolicy Retain) so rollbacks have something to
go back to; `prune` deletes the ones beyond `keep` that no alias routes to and no kept version uses.

Side effects: invokes functions, updates aliases, deletes function versions and layer versions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...core import limits
from ...core.errors import InvocationError, NotDeployedError
from ...core.names import ALIAS, METRICS_NAMESPACE, log_group_name, logical_ids, version_model_sha256
from ...core.records import AliasRouting, FunctionVersions, InvokeResult, Report, VersionInfo
from ...template.rendered import template_functions
from .client import LambdaApi, NotFound, Throttled
from .session import AwsContext

_LAST_MODIFIED_RE = re.compile(
    r"(?P<second>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(?P<offset>Z|[+-]\d\d:?\d\d)?$"
)


@dataclass(frozen=True)
class FunctionRef:
    """One model's function as the deployed template describes it."""

    name: str  # the model's name
    function_name: str  # Lambda's FunctionName
    log_group: str
    service: str  # the handler's EMF `service` dimension (POWERTOOLS_SERVICE_NAME)
    namespace: str  # the handler's EMF namespace (POWERTOOLS_METRICS_NAMESPACE)


def function_ref(template: Mapping[str, Any], name: str, where: str) -> FunctionRef:
    """Model `name`'s function as the (deployed) template describes it."""
    names = template_functions(template)
    if name not in names:
        known = ", ".join(names) or "none"
        raise NotDeployedError(
            f"no model {name!r} is deployed in {where}; deployed: {known}",
            "deploy it with `sls-deploy push MODEL --name NAME --target aws`"
            if not names
            else f"use one of: {known}",
        )
    ids = logical_ids(name)
    resources = template["Resources"]
    function = resources[names[name]]["Properties"]
    variables = function.get("Environment", {}).get("Variables", {})
    log_group = resources.get(ids["log_group"], {}).get("Properties", {}).get("LogGroupName")
    return FunctionRef(
        name=name,
        function_name=function["FunctionName"],
        log_group=log_group or log_group_name(function["FunctionName"]),
        service=variables.get("POWERTOOLS_SERVICE_NAME", name),
        namespace=variables.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
    )


def layer_names(template: Mapping[str, Any], only: str | None = None) -> list[str]:
    """The LayerName of every layer in the template (or of logical ID `only`)."""
    return [
        resource["Properties"]["LayerName"]
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and only in (None, logical_id)
    ]


def _timestamp(last_modified: str) -> str:
    """Lambda's "2024-05-01T12:00:00.000+0000" as "2024-05-01T12:00:00Z" (text it cannot read is kept)."""
    match = _LAST_MODIFIED_RE.match(last_modified)
    if match is None:
        return last_modified
    moment = datetime.strptime(match["second"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    offset = match["offset"]
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        moment -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[-2:]))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def routing(alias: dict[str, Any]) -> AliasRouting:
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    extra_version, extra_weight = next(iter(weights.items()), (None, 0.0))
    return AliasRouting(
        alias=alias["Name"],
        version=alias["FunctionVersion"],
        extra_version=extra_version,
        extra_weight=float(extra_weight),
    )


def _split_tail(tail: str) -> tuple[str, Report | None]:
    """The log tail without its REPORT line, and the REPORT it held."""
    kept, report = [], None
    for line in tail.splitlines(keepends=True):
        parsed = Report.parse(line)
        if parsed is not None:
            report = parsed
        else:
            kept.append(line)
    return "".join(kept), report


class Functions:
    def __init__(self, aws: AwsContext) -> None:
        self.aws = aws
        self._lambda = LambdaApi(aws)

    # -- alias and versions ---------------------------------------------------------------------------------
    def alias(self, ref: FunctionRef) -> AliasRouting | None:
        found = self._lambda.get_alias(ref.function_name, ALIAS)
        return routing(found) if found is not None else None

    def _version_configs(self, function_name: str) -> list[dict[str, Any]]:
        """The published versions' configurations (not $LATEST), oldest first."""
        try:
            configs = self._lambda.versions(function_name)
        except NotFound as exc:
            raise NotDeployedError(
                f"function {function_name} does not exist", "push the model again to create it"
            ) from exc
        published = (c for c in configs if c["Version"] != "$LATEST")
        return sorted(published, key=lambda c: int(c["Version"]))

    def _aliases(self, function_name: str) -> list[AliasRouting]:
        return [routing(a) for a in self._lambda.aliases(function_name)]

    def versions(self, ref: FunctionRef) -> FunctionVersions:
        aliases = self._aliases(ref.function_name)
        infos = []
        for config in self._version_configs(ref.function_name):
            number = config["Version"]
            infos.append(
                VersionInfo(
                    name=ref.name,
                    version=number,
                    created_at=_timestamp(config.get("LastModified", "")),
                    model_sha256=version_model_sha256(config.get("Description", "")),
                    runtime=config.get("Runtime", ""),
                    arch=(config.get("Architectures") or ["x86_64"])[0],
                    memory=int(config.get("MemorySize", 0)),
                    timeout=int(config.get("Timeout", 0)),
                    aliases=tuple(a.alias for a in aliases if number in (a.version, a.extra_version)),
                )
            )
        return FunctionVersions(name=ref.name, versions=tuple(infos), aliases=tuple(aliases))

    def move_alias(self, ref: FunctionRef, version: str) -> AliasRouting:
        """Send all of `live`'s traffic to `version` (clearing any canary routing)."""
        return routing(self._lambda.move_alias(ref.function_name, ALIAS, version))

    # -- invoke ---------------------------------------------------------------------------------------------
    def invoke(self, ref: FunctionRef, payload: bytes, qualifier: str) -> InvokeResult:
        if len(payload) > limits.MAX_SYNC_PAYLOAD_BYTES:
            raise InvocationError(
                f"the request is {len(payload)} bytes; Lambda accepts at most {limits.MAX_SYNC_PAYLOAD_BYTES} "
                f"bytes for a synchronous invoke",
                "send the data through S3 and pass its key instead",
            )
        try:
            answer = self._lambda.invoke(ref.function_name, qualifier, payload)
        except NotFound as exc:
            raise NotDeployedError(
                f"{ref.name} has no version or alias {qualifier!r}: {exc.detail}",
                f"see `sls-deploy versions {ref.name} --target aws`",
            ) from exc
        except Throttled as exc:
            raise InvocationError(
                f"{ref.function_name} is throttled: {exc.detail}",
                "retry later, or raise the function's reserved concurrency",
            ) from exc
        log_tail, report = _split_tail(answer.log_tail)
        warnings = []
        if report is None:
            warnings.append("the log tail held no REPORT line: the durations shown are zero")
            report = Report(answer.request_id, 0.0, 0, 0, 0)
        return InvokeResult(
            name=ref.name,
            version=qualifier if answer.executed_version is None else answer.executed_version,
            status_code=answer.status_code,
            payload=answer.payload,
            function_error=answer.function_error,
            report=report,
            log_tail=log_tail,
            extra={
                "warnings": warnings,
                "cold_start": report.init_duration_ms is not None,
                "qualifier": qualifier,
            },
        )

    # -- pruning and deleting -------------------------------------------------------------------------------
    def prune(self, refs: Iterable[FunctionRef], layer_names: Iterable[str], keep: int) -> list[str]:
        """Delete function versions beyond the newest `keep` that no alias routes to, then layer versions
        beyond the newest `keep` that no remaining function version uses; what was deleted."""
        deleted: list[str] = []
        layers_in_use: set[str] = set()
        for ref in refs:
            protected = {
                v for a in self._aliases(ref.function_name) for v in (a.version, a.extra_version) if v
            }
            configs = self._version_configs(ref.function_name)
            newest = {c["Version"] for c in configs[-keep:]}
            for config in configs:
                number = config["Version"]
                if number in protected or number in newest:
                    layers_in_use.update(layer["Arn"] for layer in config.get("Layers") or [])
                    continue
                self._lambda.delete_version(ref.function_name, number)
                deleted.append(f"{ref.function_name}:{number}")
            latest = self._lambda.configuration(ref.function_name)
            layers_in_use.update(layer["Arn"] for layer in latest.get("Layers") or [])
        for layer_name in layer_names:
            versions = self.layer_versions(layer_name)
            newest_arns = {arn for _, arn in versions[-keep:]}
            stale = [(n, arn) for n, arn in versions if arn not in newest_arns and arn not in layers_in_use]
            deleted.extend(self._delete_layer_versions(layer_name, stale))
        return deleted

    def layer_versions(self, layer_name: str) -> list[tuple[int, str]]:
        """(version number, version ARN) of a layer's versions, oldest first."""
        try:
            found = self._lambda.layer_versions(layer_name)
        except NotFound:
            return []
        return sorted((int(v["Version"]), v["LayerVersionArn"]) for v in found)

    def delete_layers(self, layer_names: Iterable[str]) -> list[str]:
        """Delete every version of the layers (the stack retains them when it goes)."""
        deleted = []
        for layer_name in layer_names:
            deleted.extend(self._delete_layer_versions(layer_name, self.layer_versions(layer_name)))
        return deleted

    def _delete_layer_versions(self, layer_name: str, versions: list[tuple[int, str]]) -> list[str]:
        for number, _ in versions:
            self._lambda.delete_layer_version(layer_name, number)
        return [arn for _, arn in versions]

    def version_numbers(self, ref: FunctionRef) -> tuple[str, ...]:
        return tuple(c["Version"] for c in self._version_configs(ref.function_name))
