"""Every AWS call of the aws target: one typed method per call, grouped by service.

The error translation happens here, once: each method names what it does, and botocore"s exceptions become
AwsErrors (TargetErrors) saying what failed, AWS"s code and message, and how to fix it (the permission or
credentials hint when AWS refused the identity). Answers are plain data: the lists and dicts inside AWS"s
responses, or a typed record where the response needs decoding (Invocation). What the callers branch on is
an explicit result (None, False) or an exception of its own: NotFound for something that does not exist,
Throttled for an invocation refused at the concurrency limit; no caller looks at an error code.

The boto3 clients are the context"s (AwsContext.client caches one per service; tests put botocore Stubbers
on them). Retries are botocore"s (the context"s config); pagination uses botocore"s paginators, or the loops
below where an API pages by hand.

Side effects: those of the calls.

Modules: errors (the translation), cloudformation (with STS), s3, lambda_api, observability (Logs, CloudWatch).
"""

from __future__ import annotations

from .cloudformation import CloudFormationApi, StsApi
from .errors import CREDENTIALS_HINT, PERMISSION_HINT, AwsError, Conflict, NotFound, Throttled
from .lambda_api import Invocation, LambdaApi
from .observability import CloudWatchApi, LogsApi
from .s3 import S3Api

__all__ = [
    "AwsError",
    "CREDENTIALS_HINT",
    "CloudFormationApi",
    "CloudWatchApi",
    "Conflict",
    "Invocation",
    "LambdaApi",
    "LogsApi",
    "NotFound",
    "PERMISSION_HINT",
    "S3Api",
    "StsApi",
    "Throttled",
]
