"""The Lambda calls of the aws target: functions, versions, aliases, layers, invocations."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from .errors import EXISTS, MISSING, Api, Conflict, NotFound, Throttled, calling


@dataclass(frozen=True)
class Invocation:
    """A synchronous invocation's answer, decoded."""

    status_code: int
    payload: bytes
    function_error: str | None
    log_tail: str  # the last 4 KB of its log (LogType Tail), decoded
    executed_version: str | None
    request_id: str


class LambdaApi(Api):
    service = "lambda"

    def get_alias(self, function: str, alias: str) -> dict[str, Any] | None:
        """The alias, None when the function or the alias does not exist."""
        try:
            with calling(f"reading alias {alias} of {function}", raises=MISSING):
                return dict(self._client.get_alias(FunctionName=function, Name=alias))
        except NotFound:
            return None

    def aliases(self, function: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        with calling(f"listing the aliases of {function}"):
            for page in self._client.get_paginator("list_aliases").paginate(FunctionName=function):
                found.extend(page["Aliases"])
        return found

    def versions(self, function: str) -> list[dict[str, Any]]:
        """The configurations of the function's versions, $LATEST among them; NotFound without the function."""
        found: list[dict[str, Any]] = []
        with calling(f"listing the versions of {function}", raises=MISSING):
            for page in self._client.get_paginator("list_versions_by_function").paginate(
                FunctionName=function
            ):
                found.extend(page["Versions"])
        return found

    def move_alias(self, function: str, alias: str, version: str) -> dict[str, Any]:
        """Send all of the alias's traffic to `version` (clearing any weighted routing); the alias after."""
        with calling(f"updating alias {alias} of {function}"):
            return dict(
                self._client.update_alias(
                    FunctionName=function,
                    Name=alias,
                    FunctionVersion=version,
                    RoutingConfig={"AdditionalVersionWeights": {}},
                )
            )

    def put_alias(self, function: str, alias: str, version: str) -> None:
        """Point `alias` at `version`: create it, or update it when it exists already."""
        what = f"creating alias {alias} of {function}"
        try:
            with calling(what, raises=EXISTS):
                self._client.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
        except Conflict:
            with calling(what):
                self._client.update_alias(FunctionName=function, Name=alias, FunctionVersion=version)

    def delete_alias(self, function: str, alias: str) -> None:
        """NotFound when the alias (or the function) is gone already."""
        with calling(f"deleting alias {alias} of {function}", raises=MISSING):
            self._client.delete_alias(FunctionName=function, Name=alias)

    def invoke(self, function: str, qualifier: str, payload: bytes) -> Invocation:
        """A synchronous invocation with the log tail; NotFound without that version or alias, Throttled at
        the concurrency limit."""
        raises = {**MISSING, "TooManyRequestsException": Throttled}
        with calling(f"invoking {function}:{qualifier}", raises=raises):
            answer = self._client.invoke(
                FunctionName=function,
                Qualifier=qualifier,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=payload,
            )
        body = answer.get("Payload")
        return Invocation(
            status_code=int(answer.get("StatusCode", 200)),
            payload=body.read() if body is not None else b"",
            function_error=answer.get("FunctionError"),
            log_tail=base64.b64decode(answer.get("LogResult") or b"").decode("utf-8", "replace"),
            executed_version=answer.get("ExecutedVersion"),
            request_id=answer.get("ResponseMetadata", {}).get("RequestId", ""),
        )

    def configuration(self, function: str) -> dict[str, Any]:
        """$LATEST's configuration."""
        with calling(f"reading the configuration of {function}"):
            return dict(self._client.get_function_configuration(FunctionName=function))

    def set_memory(self, function: str, memory_mb: int) -> None:
        """Start updating $LATEST's MemorySize (configuration() tells when Lambda has applied it)."""
        with calling(f"setting the memory of {function} to {memory_mb} MB"):
            self._client.update_function_configuration(FunctionName=function, MemorySize=memory_mb)

    def publish_tuning_version(self, function: str, memory_mb: int) -> str:
        """Publish $LATEST, set to `memory_mb`, as a temporary version; its number (that of an existing version
        when $LATEST equals it)."""
        with calling(f"publishing a {memory_mb} MB version of {function}"):
            answer = self._client.publish_version(
                FunctionName=function, Description=f"sls-deploy tune: {memory_mb} MB (temporary)"
            )
        return str(answer["Version"])

    def delete_version(self, function: str, version: str) -> None:
        """NotFound when the version (or the function) is gone already."""
        with calling(f"deleting version {version} of {function}", raises=MISSING):
            self._client.delete_function(FunctionName=function, Qualifier=version)

    def layer_versions(self, layer: str) -> list[dict[str, Any]]:
        """The layer's versions; NotFound when the layer has none."""
        found: list[dict[str, Any]] = []
        with calling(f"listing the versions of layer {layer}", raises=MISSING):
            for page in self._client.get_paginator("list_layer_versions").paginate(LayerName=layer):
                found.extend(page["LayerVersions"])
        return found

    def delete_layer_version(self, layer: str, number: int) -> None:
        with calling(f"deleting version {number} of layer {layer}"):
            self._client.delete_layer_version(LayerName=layer, VersionNumber=number)
