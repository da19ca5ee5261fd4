"""The S3 calls of the aws target (the artifact bucket)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ....core.errors import TargetError
from .errors import Api, AwsError, NotFound, calling

DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


class S3Api(Api):
    """Calls on the artifact bucket; every one expects the context's account to own the bucket."""

    service = "s3"

    @property
    def _owner(self) -> str:
        return self.aws.account_id

    def bucket_exists(self, bucket: str) -> bool:
        """False when there is no such bucket; a TargetError when another account owns it."""
        try:
            with calling(
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
        with calling(f"creating the artifact bucket {bucket}"):
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
            with calling(
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
        with calling(f"uploading {path} to s3://{bucket}/{key}"):
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
        with calling(f"uploading the template to s3://{bucket}/{key}"):
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
        with calling(f"deleting artifacts from s3://{bucket}"):
            for start in range(0, len(keys), DELETE_BATCH):
                batch = keys[start : start + DELETE_BATCH]
                answer = self._client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": False},
                    ExpectedBucketOwner=self._owner,
                )
                deleted.extend(d["Key"] for d in answer.get("Deleted", []))
        return deleted
