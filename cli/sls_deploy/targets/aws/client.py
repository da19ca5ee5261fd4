"""Every AWS call of the aws target: one typed method per call, grouped by service.

The error translation happens here, once: each method names what it does, and botocore's exceptions become
AwsErrors (TargetErrors) saying what failed, AWS's code and message, and how to fix it (the permission or
credentials hint when AWS refused the identity). Answers are plain data: the lists and dicts inside AWS's
responses, or a typed record where the response needs decoding (Invocation). What the callers branch on is
an explicit result (None, False) or an exception of its own: NotFound for something that does not exist,
Throttled for an invocation refused at the concurrency limit; no caller looks at an error code.

The boto3 clients are the context's (AwsContext.client caches one per service; tests put botocore Stubbers
on them). Retries are botocore's (the context's config); pagination uses botocore's paginators, or the loops
below where an API pages by hand.

Side effects: those of the calls.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import botocore.exceptions

from ...core.errors import TargetError

if TYPE_CHECKING:
    from .session import AwsContext

CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), "
    "run `aws configure` or `aws sso login`, or pass --profile NAME"
)
PERMISSION_HINT = (
    "grant the deploying identity the permissions listed in the README's 'Deploy to AWS' section"
)
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
}
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


class AwsError(TargetError):
    """An AWS call failed; `code` and `detail` are AWS's error code and message ("" when it gave none)."""

    def __init__(self, message: str, hint: str, code: str = "", detail: str = "") -> None:
        super().__init__(message, hint)
        self.code = code
        self.detail = detail


class NotFound(AwsError):
    """The call named something that does not exist (a function, version, alias, layer, log group)."""


class Throttled(AwsError):
    """Lambda did not run the invocation: the function is at its concurrency limit."""


class Conflict(AwsError):
    """What the call creates exists already."""


_MISSING: dict[str, type[AwsError]] = {"ResourceNotFoundException": NotFound}
_EXISTS: dict[str, type[AwsError]] = {"ResourceConflictException": Conflict, "ConflictException": Conflict}


def _error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _error_message(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
    return str(exc)


@contextmanager
def _calling(what: str, hint: str = "", raises: Mapping[str, type[AwsError]] | None = None) -> Iterator[None]:
    """Run AWS calls that `what` describes ("creating the change set"); their errors become AwsErrors, of the
    class `raises` gives an error code (NotFound, Throttled, Conflict)."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        code, detail = _error_code(exc), _error_message(exc)
        if code in _DENIED:
            fix = PERMISSION_HINT
        elif code in _BAD_CREDENTIALS:
            fix = CREDENTIALS_HINT
        else:
            fix = hint or "check the message above; the AWS console shows the same error"
        kind = (raises or {}).get(code, AwsError)
        raise kind(f"{what} failed: {code}: {detail}", fix, code, detail) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise AwsError(f"{what} failed: no AWS credentials", CREDENTIALS_HINT) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(
            f"{what} failed: {exc}", hint or "check the network connection, the region and AWS_ENDPOINT_URL"
        ) from exc


class _Api:
    """The calls of one service, on the context's (cached) client for it."""

    service: ClassVar[str]

    def __init__(self, aws: AwsContext) -> None:
        self.aws = aws

    @property
    def _client(self) -> Any:
        return self.aws.client(self.service)


# --- STS --------------------------------------------------------------------------------------------------


class StsApi(_Api):
    service = "sts"

    def account_id(self) -> str:
        """The account of the credentials (the call that checks them)."""
        with _calling("checking the AWS credentials (sts:GetCallerIdentity)", CREDENTIALS_HINT):
            return str(self._client.get_caller_identity()["Account"])


# --- CloudFormation -----------------------------------------------------------------------------------------


class CloudFormationApi(_Api):
    """Calls on the context's stack (by name, or by id where a call takes `stack`)."""

    service = "cloudformation"

    @property
    def _name(self) -> str:
        return self.aws.stack_name

    def describe_stack(self, stack: str) -> dict[str, Any] | None:
        """The stack's description, None when it does not exist."""
        try:
            with _calling(f"describing stack {self._name}"):
                found = self._client.describe_stacks(StackName=stack)["Stacks"]
        except AwsError as exc:
            if exc.code == "ValidationError" and "does not exist" in exc.detail:
                return None
            raise
        return dict(found[0]) if found else None

    def all_stacks(self) -> list[dict[str, Any]]:
        """The descriptions of every stack in the region."""
        found: list[dict[str, Any]] = []
        with _calling("listing the region's stacks"):
            for page in self._client.get_paginator("describe_stacks").paginate():
                found.extend(page["Stacks"])
        return found

    def original_template(self, stack: str) -> Any:
        """The stack's template before transforms: a dict (JSON templates) or text (YAML ones)."""
        with _calling(f"reading the template of stack {self._name}"):
            return self._client.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]

    def events(self, stack: str) -> Iterator[dict[str, Any]]:
        """The stack's events, newest first, read page by page as they are consumed."""
        with _calling(f"reading the events of stack {self._name}"):
            for page in self._client.get_paginator("describe_stack_events").paginate(StackName=stack):
                yield from page["StackEvents"]

    def latest_event_id(self, stack: str) -> str | None:
        with _calling(f"reading the events of stack {self._name}"):
            events = self._client.describe_stack_events(StackName=stack)["StackEvents"]
        return str(events[0]["EventId"]) if events else None

    def create_change_set(
        self,
        name: str,
        kind: str,
        capabilities: list[str],
        description: str,
        tags: Mapping[str, str],
        template_body: str | None = None,
        template_url: str | None = None,
    ) -> str:
        """Create change set `name` (CREATE or UPDATE) from a template body or URL; its id."""
        params: dict[str, Any] = {
            "StackName": self._name,
            "ChangeSetName": name,
            "ChangeSetType": kind,
            "Capabilities": capabilities,
            "Description": description,
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        }
        if template_url:
            params["TemplateURL"] = template_url
        else:
            params["TemplateBody"] = template_body
        with _calling(f"creating a change set for stack {self._name}"):
            return str(self._client.create_change_set(**params)["Id"])

    def describe_change_set(self, change_set_id: str) -> dict[str, Any]:
        """The change set as its last page describes it, with the Changes of every page."""
        changes: list[dict[str, Any]] = []
        token: str | None = None
        with _calling(f"describing the change set of stack {self._name}"):
            while True:
                page = self._client.describe_change_set(
                    ChangeSetName=change_set_id, **({"NextToken": token} if token else {})
                )
                changes.extend(page.get("Changes", []))
                token = page.get("NextToken")
                if not token:
                    break
        return {**page, "Changes": changes}

    def delete_change_set(self, change_set_id: str) -> None:
        with _calling(f"deleting the change set of stack {self._name}"):
            self._client.delete_change_set(ChangeSetName=change_set_id)

    def execute_change_set(self, change_set_id: str) -> None:
        with _calling(f"executing the change set of stack {self._name}"):
            self._client.execute_change_set(ChangeSetName=change_set_id)

    def delete_stack(self, stack: str) -> None:
        with _calling(f"deleting stack {self._name}"):
            self._client.delete_stack(StackName=stack)


# --- S3 -----------------------------------------------------------------------------------------------------


class S3Api(_Api):
    """Calls on the artifact bucket; every one expects the context's account to own the bucket."""

    service = "s3"

    @property
    def _owner(self) -> str:
        return self.aws.account_id

    def bucket_exists(self, bucket: str) -> bool:
        """False when there is no such bucket; a TargetError when another account owns it."""
        try:
            with _calling(
                f"checking the artifact bucket {bucket}",
                raises={"404": NotFound, "NoSuchBucket": NotFound, "NotFound": NotFound},
            ):
                self._client.head_bucket(Bucket=bucket, ExpectedBucketOwner=self._owner)
        except NotFound:
            return False
        except AwsError as exc:
            if exc.code in ("403", "AccessDenied"):
                raise TargetError(
                    f"the artifact bucket {bucket} belongs to another account or denies access",
                    "bucket names are global: delete the other bucket, or grant s3:ListBucket on it",
                ) from exc
            raise
        return True

    def create_bucket(self, bucket: str, region: str, lifecycle_rules: list[dict[str, Any]]) -> None:
        """Create the bucket with public access blocked, SSE-S3 default encryption, versioning and
        `lifecycle_rules`."""
        with _calling(f"creating the artifact bucket {bucket}"):
            params: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
            if region != "us-east-1":  # us-east-1 refuses a LocationConstraint naming itself
                params["CreateBucketConfiguration"] = {"LocationConstraint": region}
            self._client.create_bucket(**params)
            self._client.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            self._client.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            )
            self._client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            self._client.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules}
            )

    def object_exists(self, bucket: str, key: str) -> bool:
        try:
            with _calling(
                f"checking s3://{bucket}/{key}",
                raises={"404": NotFound, "NoSuchKey": NotFound, "NotFound": NotFound},
            ):
                self._client.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=self._owner)
        except NotFound:
            return False
        return True

    def upload_file(
        self,
        path: Path,
        bucket: str,
        key: str,
        metadata: Mapping[str, str],
        callback: Callable[[int], None] | None = None,
    ) -> None:
        """Upload a file (multipart when large), with a SHA-256 checksum; `callback` gets the bytes sent."""
        with _calling(f"uploading {path} to s3://{bucket}/{key}"):
            self._client.upload_file(
                str(path),
                bucket,
                key,
                ExtraArgs={
                    "ExpectedBucketOwner": self._owner,
                    "ChecksumAlgorithm": "SHA256",
                    "Metadata": dict(metadata),
                },
                Callback=callback,
            )

    def put_template(self, bucket: str, key: str, body: str) -> None:
        with _calling(f"uploading the template to s3://{bucket}/{key}"):
            self._client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body.encode("utf-8"),
                ContentType="application/json",
                ExpectedBucketOwner=self._owner,
            )

    def delete_objects(self, bucket: str, keys: list[str]) -> list[str]:
        """Delete `keys` (in batches DeleteObjects accepts); the keys deleted."""
        deleted: list[str] = []
        with _calling(f"deleting artifacts from s3://{bucket}"):
            for start in range(0, len(keys), DELETE_BATCH):
                batch = keys[start : start + DELETE_BATCH]
                answer = self._client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": False},
                    ExpectedBucketOwner=self._owner,
                )
                deleted.extend(d["Key"] for d in answer.get("Deleted", []))
        return deleted


# --- Lambda -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """A synchronous invocation's answer, decoded."""

    status_code: int
    payload: bytes
    function_error: str | None
    log_tail: str  # the last 4 KB of its log (LogType Tail), decoded
    executed_version: str | None
    request_id: str


class LambdaApi(_Api):
    service = "lambda"

    def get_alias(self, function: str, alias: str) -> dict[str, Any] | None:
        """The alias, None when the function or the alias does not exist."""
        try:
            with _calling(f"reading alias {alias} of {function}", raises=_MISSING):
                return dict(self._client.get_alias(FunctionName=function, Name=alias))
        except NotFound:
            return None

    def aliases(self, function: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        with _calling(f"listing the aliases of {function}"):
            for page in self._client.get_paginator("list_aliases").paginate(FunctionName=function):
                found.extend(page["Aliases"])
        return found

    def versions(self, function: str) -> list[dict[str, Any]]:
        """The configurations of the function's versions, $LATEST among them; NotFound without the function."""
        found: list[dict[str, Any]] = []
        with _calling(f"listing the versions of {function}", raises=_MISSING):
            for page in self._client.get_paginator("list_versions_by_function").paginate(
                FunctionName=function
            ):
                found.extend(page["Versions"])
        return found

    def move_alias(self, function: str, alias: str, version: str) -> dict[str, Any]:
        """Send all of the alias's traffic to `version` (clearing any weighted routing); the alias after."""
        with _calling(f"updating alias {alias} of {function}"):
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
            with _calling(what, raises=_EXISTS):
                self._client.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
        except Conflict:
            with _calling(what):
                self._client.update_alias(FunctionName=function, Name=alias, FunctionVersion=version)

    def delete_alias(self, function: str, alias: str) -> None:
        """NotFound when the alias (or the function) is gone already."""
        with _calling(f"deleting alias {alias} of {function}", raises=_MISSING):
            self._client.delete_alias(FunctionName=function, Name=alias)

    def invoke(self, function: str, qualifier: str, payload: bytes) -> Invocation:
        """A synchronous invocation with the log tail; NotFound without that version or alias, Throttled at
        the concurrency limit."""
        raises = {**_MISSING, "TooManyRequestsException": Throttled}
        with _calling(f"invoking {function}:{qualifier}", raises=raises):
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
        with _calling(f"reading the configuration of {function}"):
            return dict(self._client.get_function_configuration(FunctionName=function))

    def set_memory(self, function: str, memory_mb: int) -> None:
        """Start updating $LATEST's MemorySize (configuration() tells when Lambda has applied it)."""
        with _calling(f"setting the memory of {function} to {memory_mb} MB"):
            self._client.update_function_configuration(FunctionName=function, MemorySize=memory_mb)

    def publish_tuning_version(self, function: str, memory_mb: int) -> str:
        """Publish $LATEST, set to `memory_mb`, as a temporary version; its number (that of an existing version
        when $LATEST equals it)."""
        with _calling(f"publishing a {memory_mb} MB version of {function}"):
            answer = self._client.publish_version(
                FunctionName=function, Description=f"sls-deploy tune: {memory_mb} MB (temporary)"
            )
        return str(answer["Version"])

    def delete_version(self, function: str, version: str) -> None:
        """NotFound when the version (or the function) is gone already."""
        with _calling(f"deleting version {version} of {function}", raises=_MISSING):
            self._client.delete_function(FunctionName=function, Qualifier=version)

    def layer_versions(self, layer: str) -> list[dict[str, Any]]:
        """The layer's versions; NotFound when the layer has none."""
        found: list[dict[str, Any]] = []
        with _calling(f"listing the versions of layer {layer}", raises=_MISSING):
            for page in self._client.get_paginator("list_layer_versions").paginate(LayerName=layer):
                found.extend(page["LayerVersions"])
        return found

    def delete_layer_version(self, layer: str, number: int) -> None:
        with _calling(f"deleting version {number} of layer {layer}"):
            self._client.delete_layer_version(LayerName=layer, VersionNumber=number)


# --- CloudWatch Logs and metrics ----------------------------------------------------------------------------


class LogsApi(_Api):
    service = "logs"

    def filter_log_events(
        self, group: str, start_ms: int, end_ms: int | None, pattern: str | None, max_pages: int | None = None
    ) -> list[dict[str, Any]]:
        """The group's events from `start_ms` (to `end_ms`) matching `pattern`, over at most `max_pages`
        pages; NotFound while the group does not exist (nothing logged yet)."""
        params: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if end_ms is not None:
            params["endTime"] = end_ms
        if pattern:
            params["filterPattern"] = pattern
        events: list[dict[str, Any]] = []
        pages = 0
        with _calling(f"reading log group {group}", raises=_MISSING):
            while True:
                page = self._client.filter_log_events(**params)
                events.extend(page.get("events", []))
                pages += 1
                token = page.get("nextToken")
                if not token or (max_pages is not None and pages >= max_pages):
                    break
                params["nextToken"] = token
        return events


class CloudWatchApi(_Api):
    service = "cloudwatch"

    def metric_alarms(self, names: Iterable[str]) -> list[dict[str, Any]]:
        """The metric alarms among `names` that exist."""
        found: list[dict[str, Any]] = []
        with _calling("reading the alarms (cloudwatch:DescribeAlarms)"):
            pages = self._client.get_paginator("describe_alarms").paginate(
                AlarmNames=list(names), AlarmTypes=["MetricAlarm"]
            )
            for page in pages:
                found.extend(page.get("MetricAlarms", []))
        return found

    def metric_data(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[float]]:
        """The values of each query (MetricDataQueries) between `start` and `end`, by query id, oldest first."""
        params: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        values: dict[str, list[float]] = {}
        with _calling("reading the function's metrics (cloudwatch:GetMetricData)"):
            while True:
                page = self._client.get_metric_data(**params)
                for result in page.get("MetricDataResults", []):
                    values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
                token = page.get("NextToken")
                if not token:
                    break
                params["NextToken"] = token
        return values
