"""The artifact bucket of the aws target and `sam package`'s job: upload the template's zips, point it at them.

One bucket per account and region, `sls-deploy-artifacts-<account>-<region>`, created on first use with
public access blocked, default encryption (SSE-S3), versioning and a lifecycle that never expires what a
stack may still reference:

- every zip is stored under its content address `artifacts/<sha256>.zip`, uploaded once (a HEAD first) and
  shared by every stack and version that uses the same bytes; current objects never expire, because
  CloudFormation needs a stack's S3 locations again whenever it rolls an update back or replaces a resource;
- objects are only deleted by `remove --purge`, and only when no other sls-deploy stack references them; the
  deleted bytes stay recoverable as noncurrent versions for NONCURRENT_DAYS, then expire;
- templates too large to pass inline go to `templates/<sha256>.json`; CloudFormation copies them when the
  change set is created, so they expire after TEMPLATE_DAYS;
- incomplete multipart uploads are aborted after a day.

Everything goes through S3, whatever its size: Lambda requires S3 above 50 MB zipped
(limits.MAX_DIRECT_UPLOAD_ZIPPED_BYTES) and CloudFormation takes code and layers from S3 anyway.

Side effects: creates and configures the bucket, uploads and deletes objects.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sls_inference.integrity import sha256_file

from ...core.artifacts import Artifact
from ...core.errors import TargetError
from ...core.progress import Progress
from ...template.rendered import rewrite_artifact_uris
from .client import S3Api
from .session import AwsContext

ARTIFACT_PREFIX = "artifacts/"
TEMPLATE_PREFIX = "templates/"
NONCURRENT_DAYS = 30
TEMPLATE_DAYS = 7
PROGRESS_MIN_BYTES = 8 * 1024 * 1024  # uploads at least this big report their progress


def bucket_name(account_id: str, region: str) -> str:
    return f"sls-deploy-artifacts-{account_id}-{region}"


def artifact_key(sha256: str) -> str:
    return f"{ARTIFACT_PREFIX}{sha256}.zip"


@dataclass(frozen=True)
class LocalZip:
    """A zip the project's template points at, by path, with its content hash."""

    path: Path
    sha256: str

    @property
    def key(self) -> str:
        return artifact_key(self.sha256)


def template_zips(template: Mapping[str, Any], project_dir: Path, code: Artifact) -> dict[str, LocalZip]:
    """The local zip behind every CodeUri/ContentUri of `template` that is not an s3:// URI yet, by logical ID.

    A folder (functions/inference/, where the project holds the handler's source) stands for the function
    code zip built from that same package (`code`); anything else must be a zip the build wrote.
    """
    found: dict[str, LocalZip] = {}

    def record(logical_id: str, uri: str) -> str:
        if uri.startswith("s3://"):
            return uri
        path = (project_dir / uri).resolve()
        if path.is_dir():
            found[logical_id] = LocalZip(code.zip_path, code.sha256)
        elif path.is_file():
            found[logical_id] = LocalZip(path, sha256_file(path))
        else:
            raise TargetError(
                f"template.yaml points {logical_id} at {uri}, which does not exist",
                "build that model again (`sls-deploy build MODEL --name NAME`) or remove it from the project",
            )
        return uri

    rewrite_artifact_uris(template, record)
    return found


def lifecycle_rules() -> list[dict[str, Any]]:
    return [
        {
            "ID": "abort-incomplete-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": "expire-purged-artifacts",
            "Status": "Enabled",
            "Filter": {"Prefix": ARTIFACT_PREFIX},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
        },
        {
            "ID": "drop-expired-delete-markers",
            "Status": "Enabled",
            "Filter": {"Prefix": ARTIFACT_PREFIX},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
        {
            "ID": "expire-uploaded-templates",
            "Status": "Enabled",
            "Filter": {"Prefix": TEMPLATE_PREFIX},
            "Expiration": {"Days": TEMPLATE_DAYS},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
    ]


class _UploadProgress:
    """boto3's transfer callback (called from its worker threads) → "uploading x: 40 % of 29.3 MB"."""

    def __init__(self, label: str, size: int, progress: Progress) -> None:
        self._label, self._size, self._progress = label, size, progress
        self._sent = 0
        self._shown = -1
        self._lock = threading.Lock()

    def __call__(self, sent: int) -> None:
        with self._lock:
            self._sent += sent
            percent = min(100, self._sent * 100 // max(self._size, 1))
            if percent // 5 > self._shown // 5:
                self._shown = percent
                self._progress(f"uploading {self._label}: {percent} % of {self._size / 1e6:.1f} MB")


class ArtifactBucket:
    """The account's artifact bucket in the context's region."""

    def __init__(self, aws: AwsContext, progress: Progress) -> None:
        self.aws = aws
        self.name = bucket_name(aws.account_id, aws.region)
        self._progress = progress
        self._known = False
        self._s3 = S3Api(aws)

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def exists(self) -> bool:
        if not self._known:
            self._known = self._s3.bucket_exists(self.name)
        return self._known

    def ensure(self) -> bool:
        """Create and configure the bucket when it is missing; True when it was created."""
        if self.exists():
            return False
        self._progress(f"creating the artifact bucket {self.name}")
        self._s3.create_bucket(self.name, self.aws.region, lifecycle_rules())
        self._known = True
        return True

    def has(self, key: str) -> bool:
        return self._s3.object_exists(self.name, key)

    def missing(self, zips: Iterable[LocalZip]) -> list[LocalZip]:
        """The zips not uploaded yet (all of them while the bucket does not exist), each once."""
        unique = {z.key: z for z in zips}
        if not self.exists():
            return list(unique.values())
        return [z for key, z in unique.items() if not self.has(key)]

    def upload(self, zips: Iterable[LocalZip]) -> list[str]:
        """Upload the zips that are not in the bucket yet; the s3:// URIs uploaded."""
        self.ensure()
        uploaded = []
        for item in self.missing(zips):
            size = item.path.stat().st_size
            label = item.path.name
            self._progress(f"uploading {label} ({size / 1e6:.1f} MB)")
            callback = _UploadProgress(label, size, self._progress) if size >= PROGRESS_MIN_BYTES else None
            self._s3.upload_file(item.path, self.name, item.key, {"sha256": item.sha256}, callback)
            uploaded.append(self.uri(item.key))
        return uploaded

    def put_template(self, body: str) -> str:
        """Store a template body too large to pass inline; its https URL for CloudFormation's TemplateURL."""
        self.ensure()
        key = f"{TEMPLATE_PREFIX}{hashlib.sha256(body.encode('utf-8')).hexdigest()}.json"
        self._s3.put_template(self.name, key, body)
        return f"https://{self.name}.s3.{self.aws.region}.amazonaws.com/{key}"

    def delete(self, keys: Iterable[str]) -> list[str]:
        """Delete `keys` (their bytes stay NONCURRENT_DAYS as noncurrent versions); the s3:// URIs deleted."""
        keys = sorted(set(keys))
        if not keys or not self.exists():
            return []
        return [self.uri(key) for key in self._s3.delete_objects(self.name, keys)]

    def key_of(self, uri: str) -> str | None:
        """The key of an s3:// URI in this bucket, else None."""
        prefix = f"s3://{self.name}/"
        return uri[len(prefix) :] if uri.startswith(prefix) else None


def package_template(
    template: Mapping[str, Any], zips: Mapping[str, LocalZip], bucket: ArtifactBucket
) -> dict:
    """`template` with each local CodeUri/ContentUri replaced by the s3:// URI of its content-addressed zip."""
    return rewrite_artifact_uris(
        template, lambda logical_id, uri: bucket.uri(zips[logical_id].key) if logical_id in zips else uri
    )


def referenced_uris(template: Mapping[str, Any]) -> set[str]:
    """Every s3:// CodeUri/ContentUri of a (packaged) template."""
    found: set[str] = set()

    def record(_: str, uri: str) -> str:
        if uri.startswith("s3://"):
            found.add(uri)
        return uri

    rewrite_artifact_uris(template, record)
    return found
