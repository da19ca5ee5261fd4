"""Lambda calls of the aws target: invoke, versions and the `live` alias, pruning old versions and layers.

CloudFormation owns the alias (SAM's AutoPublishAlias): `move_alias` changes it behind the stack's back, which
drift detection reports, and the next deploy that publishes a new version moves it again. Old function
versions and layer versions are retained by the stack (DeletionPolicy Retain) so rollbacks have something to
go back to; `prune` deletes the ones beyond `keep` that no alias routes to and no kept version uses.

Side effects: invokes functions, updates aliases, deletes function versions and layer versions.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...core import limits
from ...core.errors import InvocationError, NotDeployedError
from ...core.names import ALIAS, version_model_sha256
from ...core.records import AliasRouting, FunctionVersions, InvokeResult, Report, VersionInfo
from .session import AwsContext, calling, error_code, error_message

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

    @property
    def _lambda(self) -> Any:
        return self.aws.client("lambda")

    # -- alias and versions ---------------------------------------------------------------------------------
    def alias(self, ref: FunctionRef) -> AliasRouting | None:
        try:
            return routing(self._lambda.get_alias(FunctionName=ref.function_name, Name=ALIAS))
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            with calling(f"reading alias {ALIAS} of {ref.function_name}"):
                raise

    def _version_configs(self, function_name: str) -> list[dict[str, Any]]:
        """The published versions' configurations (not $LATEST), oldest first."""
        configs: list[dict[str, Any]] = []
        try:
            for page in self._lambda.get_paginator("list_versions_by_function").paginate(
                FunctionName=function_name
            ):
                configs.extend(c for c in page["Versions"] if c["Version"] != "$LATEST")
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise NotDeployedError(
                    f"function {function_name} does not exist", "push the model again to create it"
                ) from exc
            with calling(f"listing the versions of {function_name}"):
                raise
        return sorted(configs, key=lambda c: int(c["Version"]))

    def _aliases(self, function_name: str) -> list[AliasRouting]:
        found: list[AliasRouting] = []
        with calling(f"listing the aliases of {function_name}"):
            for page in self._lambda.get_paginator("list_aliases").paginate(FunctionName=function_name):
                found.extend(routing(a) for a in page["Aliases"])
        return found

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
        with calling(f"updating alias {ALIAS} of {ref.function_name}"):
            answer = self._lambda.update_alias(
                FunctionName=ref.function_name,
                Name=ALIAS,
                FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": {}},
            )
        return routing(answer)

    # -- invoke ---------------------------------------------------------------------------------------------
    def invoke(self, ref: FunctionRef, payload: bytes, qualifier: str) -> InvokeResult:
        if len(payload) > limits.MAX_SYNC_PAYLOAD_BYTES:
            raise InvocationError(
                f"the request is {len(payload)} bytes; Lambda accepts at most {limits.MAX_SYNC_PAYLOAD_BYTES} "
                f"bytes for a synchronous invoke",
                "send the data through S3 and pass its key instead",
            )
        try:
            answer = self._lambda.invoke(
                FunctionName=ref.function_name,
                Qualifier=qualifier,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=payload,
            )
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise NotDeployedError(
                    f"{ref.name} has no version or alias {qualifier!r}: {error_message(exc)}",
                    f"see `sls-deploy versions {ref.name} --target aws`",
                ) from exc
            if code == "TooManyRequestsException":
                raise InvocationError(
                    f"{ref.function_name} is throttled: {error_message(exc)}",
                    "retry later, or raise the function's reserved concurrency",
                ) from exc
            with calling(f"invoking {ref.function_name}:{qualifier}"):
                raise
        tail = base64.b64decode(answer.get("LogResult") or b"").decode("utf-8", "replace")
        log_tail, report = _split_tail(tail)
        warnings = []
        if report is None:
            warnings.append("the log tail held no REPORT line: the durations shown are zero")
            request_id = answer.get("ResponseMetadata", {}).get("RequestId", "")
            report = Report(request_id, 0.0, 0, 0, 0)
        return InvokeResult(
            name=ref.name,
            version=answer.get("ExecutedVersion", qualifier),
            status_code=int(answer.get("StatusCode", 200)),
            payload=answer["Payload"].read() if answer.get("Payload") is not None else b"",
            function_error=answer.get("FunctionError"),
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
                with calling(f"deleting version {number} of {ref.function_name}"):
                    self._lambda.delete_function(FunctionName=ref.function_name, Qualifier=number)
                deleted.append(f"{ref.function_name}:{number}")
            with calling(f"reading {ref.function_name}"):
                latest = self._lambda.get_function_configuration(FunctionName=ref.function_name)
            layers_in_use.update(layer["Arn"] for layer in latest.get("Layers") or [])
        for layer_name in layer_names:
            versions = self.layer_versions(layer_name)
            newest_arns = {arn for _, arn in versions[-keep:]}
            stale = [(n, arn) for n, arn in versions if arn not in newest_arns and arn not in layers_in_use]
            deleted.extend(self._delete_layer_versions(layer_name, stale))
        return deleted

    def layer_versions(self, layer_name: str) -> list[tuple[int, str]]:
        """(version number, version ARN) of a layer's versions, oldest first."""
        found: list[tuple[int, str]] = []
        try:
            for page in self._lambda.get_paginator("list_layer_versions").paginate(LayerName=layer_name):
                found.extend((int(v["Version"]), v["LayerVersionArn"]) for v in page["LayerVersions"])
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return []
            with calling(f"listing the versions of layer {layer_name}"):
                raise
        return sorted(found)

    def delete_layers(self, layer_names: Iterable[str]) -> list[str]:
        """Delete every version of the layers (the stack retains them when it goes)."""
        deleted = []
        for layer_name in layer_names:
            deleted.extend(self._delete_layer_versions(layer_name, self.layer_versions(layer_name)))
        return deleted

    def _delete_layer_versions(self, layer_name: str, versions: list[tuple[int, str]]) -> list[str]:
        for number, _ in versions:
            with calling(f"deleting version {number} of layer {layer_name}"):
                self._lambda.delete_layer_version(LayerName=layer_name, VersionNumber=number)
        return [arn for _, arn in versions]

    def version_numbers(self, ref: FunctionRef) -> tuple[str, ...]:
        return tuple(c["Version"] for c in self._version_configs(ref.function_name))
