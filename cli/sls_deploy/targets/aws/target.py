"""AwsTarget: the project as one CloudFormation stack (every model of the project, from template.yaml).

Deploying is plan, then apply (deploy.py): `plan` creates the stack's change set for the template the build
rendered, pointed at the content-addressed zips of the artifact bucket, and keeps it; `apply` uploads the
zips the bucket lacks and executes that change set; `discard` (push --dry-run) deletes it. After a
successful deploy, function versions and layer versions beyond `keep_versions` that nothing routes to are
pruned. Canary deploys run through CodeDeploy (the template's DeploymentPreference).

The connection (credentials, region, the STS check) is opened on first use, or by `ready()`.

remove: the last model of the project deletes the stack; a model among others is taken out of the deployed
template with a change set (the others stay untouched). Either way the model leaves the project's build
records and template.yaml, so the next push does not bring it back. Layer versions (retained by the stack)
are deleted too; with purge, the artifacts only this stack referenced are deleted from the bucket.

Local state: none. The stack is the record; a failed deploy leaves nothing half-written on this machine.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property
from typing import Any

from ...core.alarm_rules import alarm_name, alarm_rules
from ...core.config import ProjectConfig
from ...core.errors import NotDeployedError, TargetError
from ...core.names import ALIAS, logical_ids
from ...core.progress import Progress
from ...core.records import (
    AlarmState,
    AliasChange,
    AliasRouting,
    Deployment,
    DeployPlan,
    FunctionBuild,
    FunctionVersions,
    InvokeResult,
    LogEvent,
    MetricsResult,
    PreparedBuild,
    RemoveResult,
)
from ...template.project import forget_function
from ...template.rendered import template_functions, without_function
from ..base import default_rollback
from .artifacts import ArtifactBucket, referenced_uris
from .deploy import Deployer, StackPlan, build_template, held_plan
from .functions import FunctionRef, Functions, function_ref, layer_names
from .session import AwsContext, connect
from .stack import Stack, StackInfo
from .telemetry import Telemetry


class AwsTarget:
    """The aws target of one project. `aws` and `poll_seconds` are for tests (stubbed clients, no waits)."""

    name = "aws"

    def __init__(
        self,
        config: ProjectConfig,
        progress: Progress | None = None,
        aws: AwsContext | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        self.config = config
        self._progress: Progress = progress or (lambda _: None)
        self._context = aws
        self._poll = poll_seconds

    @cached_property
    def aws(self) -> AwsContext:
        """The project's AWS connection, opened on first use (TargetError/ConfigError with a fix)."""
        return self._context or connect(self.config)

    @cached_property
    def stack(self) -> Stack:
        return Stack(self.aws, self._progress, self._poll)

    @cached_property
    def bucket(self) -> ArtifactBucket:
        return ArtifactBucket(self.aws, self._progress)

    @cached_property
    def functions(self) -> Functions:
        return Functions(self.aws)

    @cached_property
    def telemetry(self) -> Telemetry:
        return Telemetry(self.aws, self._poll)

    @cached_property
    def _deployer(self) -> Deployer:
        return Deployer(self.config, self.stack, self.bucket, self.functions, self._progress, self.where)

    @property
    def where(self) -> str:
        return f"stack {self.aws.stack_name} ({self.aws.region}, account {self.aws.account_id})"

    # -- reading the stack --------------------------------------------------------------------------------
    def _deployed(self, what: str) -> tuple[StackInfo, dict[str, Any]]:
        info = self.stack.describe()
        if info is None or info.status in ("REVIEW_IN_PROGRESS", "DELETE_COMPLETE"):
            raise self.aws.not_deployed(what)
        return info, self.stack.template()

    def ref(self, name: str) -> FunctionRef:
        """Model `name`'s function as the deployed stack describes it."""
        _, template = self._deployed(name)
        return function_ref(template, name, self.where)

    def _deployment(
        self, name: str, changed: bool, info: StackInfo | None = None, template: dict[str, Any] | None = None
    ) -> Deployment:
        if info is None or template is None:
            info, template = self._deployed(name)
        ref = function_ref(template, name, self.where)
        ids = logical_ids(name)
        function_arn = info.outputs.get(ids["output_function_arn"])
        alias = self.functions.alias(ref)
        if not function_arn or alias is None:
            raise TargetError(
                f"{self.where} has no function ARN output or alias {ALIAS} for {name} "
                f"(stack status {info.status})",
                "push again; if it persists, look at the stack's events in the CloudFormation console",
            )
        endpoint = info.outputs.get(ids["output_url"]) or info.outputs.get(ids["output_alias_arn"], "")
        return Deployment(
            target=self.name,
            name=name,
            version=alias.version,
            alias=ALIAS,
            changed=changed,
            endpoint=endpoint,
            function_id=function_arn,
            routing=alias,
        )

    # -- the Target protocol ------------------------------------------------------------------------------
    def ready(self) -> None:
        """Open the connection now: missing credentials or region fail before a long build."""
        self.aws  # noqa: B018 - the property connects

    def prepare(self, build: FunctionBuild) -> PreparedBuild:
        """AWS runs the build as it is."""
        return PreparedBuild(build)

    def plan(self, build: FunctionBuild, canary_percent: float | None = None) -> DeployPlan:
        """What deploying `build` would do: the uploads the bucket lacks and the stack's change set, created
        and kept in the plan for `apply` (or `discard`). The canary itself is rendered in the build's template
        (DeploymentPreference); `canary_percent` only checks that it is."""
        template = build_template(build, canary_percent)  # checked before any AWS call
        return self._deployer.plan(build, template, canary_percent)

    def apply(self, plan: DeployPlan) -> Deployment:
        """Upload what the bucket lacks, then execute the plan's change set and follow the stack."""
        held = held_plan(plan)
        applied = self._deployer.apply(held, canary=plan.canary_percent is not None)
        info, deployed = self._deployed(held.name)
        after = self._deployment(held.name, changed=False, info=info, template=deployed)
        if applied:
            self._prune(deployed)
        return replace(after, changed=held.before != after.routing)

    def discard(self, plan: DeployPlan) -> None:
        """Delete the plan's change set (and the empty stack a CREATE change set leaves behind)."""
        held = plan.handle
        if isinstance(held, StackPlan) and held.change_set is not None:
            self._deployer.discard(held.change_set)

    def deploy(self, build: FunctionBuild, canary_percent: float | None = None) -> Deployment:
        return self.apply(self.plan(build, canary_percent))

    def _prune(self, template: dict[str, Any]) -> None:
        refs = [function_ref(template, n, self.where) for n in template_functions(template)]
        try:
            deleted = self.functions.prune(refs, layer_names(template), self.config.keep_versions)
        except TargetError as exc:  # the deploy succeeded; old versions stay until the next one
            self._progress(f"pruning old versions failed: {exc.message}")
            return
        if deleted:
            self._progress(f"pruned {len(deleted)} old function/layer versions")

    def invoke(self, name: str, payload: bytes, qualifier: str = ALIAS) -> InvokeResult:
        return self.functions.invoke(self.ref(name), payload, qualifier)

    def list(self) -> builtins.list[Deployment]:
        info = self.stack.describe()
        if info is None or info.status in ("REVIEW_IN_PROGRESS", "DELETE_COMPLETE"):
            return []
        template = self.stack.template()
        return [self._deployment(n, False, info, template) for n in template_functions(template)]

    def versions(self, name: str) -> FunctionVersions:
        return self.functions.versions(self.ref(name))

    def rollback(self, name: str, to: str | None = None) -> AliasChange:
        """Point all of `live` at version `to`; default: the version before the one it serves (during a canary,
        the version the canary started from). CloudFormation still records the version it deployed: drift
        detection reports the alias, and the next deploy that publishes a version moves `live` again."""
        ref = self.ref(name)
        before = self._alias(ref)
        versions = self.functions.version_numbers(ref)
        if to is None:
            extra = None if before.extra_version is None else int(before.extra_version)
            choice = default_rollback(int(before.version), extra, [int(v) for v in versions])
            if choice is None:
                raise TargetError(
                    f"{name} has no version before {before.version} to roll back to",
                    f"list its versions with `sls-deploy versions {name} --target aws`",
                )
            to = str(choice)
        elif to not in versions:
            raise NotDeployedError(
                f"{name} has no version {to!r}", f"use one of: {', '.join(versions) or 'none'}"
            )
        return AliasChange(name, before, self.functions.move_alias(ref, to))

    def promote(self, name: str) -> AliasChange:
        ref = self.ref(name)
        before = self._alias(ref)
        if before.extra_version is None:
            raise TargetError(
                f"{name}'s alias {ALIAS} sends all traffic to version {before.version}: there is no canary",
                "nothing to promote",
            )
        return AliasChange(name, before, self.functions.move_alias(ref, before.extra_version))

    def _alias(self, ref: FunctionRef) -> AliasRouting:
        alias = self.functions.alias(ref)
        if alias is None:
            raise NotDeployedError(f"{ref.function_name} has no alias {ALIAS}", "push the model again")
        return alias

    def remove(self, name: str, purge: bool = False) -> RemoveResult:
        info, template = self._deployed(name)
        names = template_functions(template)
        ref = function_ref(template, name, self.where)
        try:
            versions = self.functions.version_numbers(ref)
        except NotDeployedError:  # a stack whose create failed has no function
            versions = ()
        if set(names) == {name}:
            kept: dict[str, Any] = {}
            self._deployer.check(self.stack.delete(info.stack_id), f"deleting {self.where}", created=False)
            self.functions.delete_layers(layer_names(template))
        else:
            kept = without_function(template, name)
            self._deployer.apply_template(kept, info, f"removing {name}")
            ids = logical_ids(name)
            for layer in ("model_layer", "processing_layer"):
                self.functions.delete_layers(layer_names(template, only=ids[layer]))
        forget_function(self.config, name)
        purged: builtins.list[str] = []
        if purge:
            purged = self._purge(referenced_uris(template) - referenced_uris(kept), info.stack_id)
        return RemoveResult(self.name, name, versions, tuple(purged))

    def _purge(self, uris: set[str], own_stack_id: str) -> builtins.list[str]:
        """Delete the artifacts behind `uris` that no other sls-deploy stack of the region references."""
        still_used: set[str] = set()
        for stack_id in self.stack.other_project_stacks(own_stack_id):
            still_used |= referenced_uris(self.stack.template(stack_id))
        keys = {self.bucket.key_of(uri) for uri in uris - still_used}
        return self.bucket.delete(k for k in keys if k)

    def logs(
        self, name: str, since: float, filter_text: str | None = None, follow: bool = False
    ) -> Iterator[LogEvent]:
        return self.telemetry.logs(self.ref(name), since, filter_text, follow)

    def metrics(self, name: str, since: float, until: float | None = None) -> MetricsResult:
        return self.telemetry.metrics(self.ref(name), since, until)

    def alarms(self, name: str | None = None) -> builtins.list[AlarmState]:
        _, template = self._deployed(name or "the project")
        names = [name] if name is not None else builtins.list(template_functions(template))
        states: builtins.list[AlarmState] = []
        for model in names:
            ref = function_ref(template, model, self.where)
            rules = alarm_rules(self.config, self.config.timeout)  # names only; thresholds come from AWS
            states.extend(
                self.telemetry.alarms(ref, {alarm_name(ref.function_name, r): r.key for r in rules})
            )
        return states
