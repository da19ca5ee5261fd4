"""The aws target's connection: a boto3 session from the standard chain, the account, the stack's name.

Credentials and region come from boto3 (flags → environment → shared config/credentials files → SSO, instance
roles); `--profile` picks a named profile and `--region` overrides the region. `AWS_ENDPOINT_URL` (and the
per-service `AWS_ENDPOINT_URL_<SERVICE>`) is honoured by botocore itself, which is how an emulator is used.
The calls themselves are client.py's, on the clients the context caches.

Side effects: `connect` makes one STS GetCallerIdentity call (checks the credentials, gives the account id).
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from ... import __version__
from ...core import limits
from ...core.config import ProjectConfig
from ...core.errors import ConfigError, NotDeployedError, TargetError
from .client import CREDENTIALS_HINT, StsApi

REGION_HINT = (
    "pass --region (e.g. --region eu-west-1), set AWS_REGION, put `region = ...` in sls-deploy.toml, "
    "or run `aws configure`"
)


def default_stack_name(config: ProjectConfig) -> str:
    return f"sls-deploy-{config.project_name}"


def stack_name(config: ProjectConfig) -> str:
    """The project's CloudFormation stack: `stack_name` if set, else "sls-deploy-<project>"; checked against
    CloudFormation's rule (a letter, then letters, digits and hyphens, at most 128 characters)."""
    name = config.stack_name or default_stack_name(config)
    if not limits.STACK_NAME_RE.fullmatch(name):
        source = (
            "stack_name" if config.stack_name else f"the name derived from project {config.project_name!r}"
        )
        raise ConfigError(
            f"{source} {name!r} cannot name a CloudFormation stack",
            "pass --stack-name (or set stack_name) with a letter first, then letters, digits and '-', "
            "at most 128 characters",
        )
    return name


class AwsContext:
    """One project's AWS connection: session, region, account, stack name, and cached clients."""

    def __init__(self, session: boto3.Session, region: str, account_id: str, stack: str) -> None:
        self.session = session
        self.region = region
        self.account_id = account_id
        self.stack_name = stack
        self._clients: dict[str, Any] = {}
        self._config = botocore.config.Config(
            region_name=region,
            retries={"mode": "standard", "max_attempts": 5},
            user_agent_extra=f"sls-deploy/{__version__}",
        )

    def client(self, service: str) -> Any:
        """The (cached) boto3 client for `service`; tests put a botocore Stubber on the same instance."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self._config)
        return self._clients[service]

    def not_deployed(self, what: str) -> NotDeployedError:
        return NotDeployedError(
            f"{what}: stack {self.stack_name} does not exist in {self.region} (account {self.account_id})",
            "deploy with `sls-deploy push MODEL --target aws`, or pass the --stack-name/--region it was "
            "deployed with",
        )


def connect(config: ProjectConfig) -> AwsContext:
    """Open the project's AWS connection; raise before any other work when credentials or region are missing."""
    stack = stack_name(config)
    try:
        session = boto3.Session(profile_name=config.profile or None, region_name=config.region or None)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(
            f"AWS profile {config.profile!r} is not configured",
            "list profiles with `aws configure list-profiles`, or create it with `aws configure --profile NAME`",
        ) from exc
    region = session.region_name
    if not region:
        raise TargetError("no AWS region is configured for the aws target", REGION_HINT)
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:  # e.g. a broken credential_process or SSO cache
        raise TargetError(f"the AWS credentials cannot be loaded: {exc}", CREDENTIALS_HINT) from exc
    if credentials is None:
        profile = f" (profile {config.profile})" if config.profile else ""
        raise TargetError(f"no AWS credentials found{profile}", CREDENTIALS_HINT)
    context = AwsContext(session, region, "", stack)
    context.account_id = StsApi(context).account_id()
    return context
