"""AwsTarget: the project as one CloudFormation stack (every model of the project, from template.yaml).

Deploying is plan, then apply. `plan` takes the template the build rendered (the build record's, never
re-read from disk), points its CodeUri/ContentUri at the content-addressed zips of the artifact bucket and
creates the stack's change set (the SAM transform runs in CloudFormation); the plan keeps that change set.
`apply` uploads the zips the bucket lacks, executes the plan's change set and follows the stack's events; an
empty change set means "no changes". A stack left in ROLLBACK_COMPLETE by a failed first create cannot take
a change set: its plan says so, and apply deletes the stack and creates the change set then. After a
successful deploy, function versions and layer versions beyond `keep_versions` that nothing routes to are
pruned. `discard` (push --dry-run) deletes the plan's change set (and the empty stack a CREATE leaves).
Canary deploys run through CodeDeploy (the template's DeploymentPreference).

The connection (credentials, region, the STS check) is opened on first use, or by `ready()`.

remove: the last model of the project deletes the stack; a model among others is taken out of the deployed
template with a change set (the others stay untouched). Either way the model leaves the project's build
records and template.yaml, so the next push does not bring it back. Layer versions (retained by the stack)
are deleted too; with purge, the artifacts only this stack referenced are deleted from the bucket.

Local state: none. The stack is the record; a failed deploy leaves nothing half-written on this machine.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from ...core.alarm_rules import alarm_name, alarm_rules
from ...core.config import ProjectConfig
from ...core.errors import NotDeployedError, TargetError
from ...core.names import ALIAS, METRICS_NAMESPACE, PROJECT_TAG, logical_ids
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
from .artifacts import ArtifactBucket, LocalZip, package_template, referenced_uris, template_zips
from .functions import FunctionRef, Functions
from .session import AwsContext, connect
from .stack import ChangeSet, Outcome, Stack, StackInfo, needs_template_url, template_body
from .telemetry import Telemetry

_BROKEN = {"ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "CREATE_FAILED"}


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
        log_group=log_group or f"/aws/lambda/{function['FunctionName']}",
        service=variables.get("POWERTOOLS_SERVICE_NAME", name),
        namespace=variables.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
    )


def _deployment_preference(template: Mapping[str, Any], name: str) -> str | None:
    """The CodeDeploy configuration the template's function of model `name` deploys with, None without."""
    function = template.get("Resources", {}).get(logical_ids(name)["function"], {})
    preference = function.get("Properties", {}).get("DeploymentPreference")
    if not isinstance(preference, dict):
        return None
    kind = preference.get("Type")
    return kind if isinstance(kind, str) else "a custom deployment configuration"


def layer_names(template: Mapping[str, Any], only: str | None = None) -> list[str]:
    """The LayerName of every layer in the template (or of logical ID `only`)."""
    return [
        resource["Properties"]["LayerName"]
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and only in (None, logical_id)
    ]


@dataclass(frozen=True)
class _StackPlan:
    """What an aws plan holds for apply: the packaged template, the zips it points at, the change set created
    for it (None when the stack must be deleted first), and the alias's routing before."""

    packaged: dict[str, Any]
    zips: tuple[LocalZip, ...]
    change_set: ChangeSet | None
    stack: StackInfo | None
    before: AliasRouting | None


def _summary(change_set: ChangeSet) -> str:
    """E.g. "3 to add, 1 to modify"."""
    counts: dict[str, int] = {}
    for change in change_set.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    return ", ".join(f"{n} to {action.lower()}" for action, n in sorted(counts.items()))


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

    @property
    def where(self) -> str:
        return f"stack {self.aws.stack_name} ({self.aws.region}, account {self.aws.account_id})"

    # -- reading the build and the stack ------------------------------------------------------------------
    @staticmethod
    def _build_template(build: FunctionBuild) -> dict[str, Any]:
        """The project template `build` was rendered into (what template.yaml holds)."""
        if build.template is None:
            raise TargetError(
                f"the build of {build.name} carries no rendered template to deploy",
                "build it with `sls-deploy push MODEL --name NAME --target aws`",
            )
        if build.name not in template_functions(build.template):
            raise TargetError(
                f"the template rendered for {build.name} holds no function for it",
                "build it again: `sls-deploy push MODEL --name NAME --target aws`",
            )
        return dict(build.template)

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

    def _updatable(self) -> StackInfo | None:
        """The stack as a change set finds it (None: it does not exist); TargetError when it is busy or broken.
        A stack in ROLLBACK_COMPLETE is returned as it is: apply deletes it before the create."""
        info = self.stack.describe()
        if info is None:
            return None
        if info.busy:
            raise TargetError(
                f"{self.where} is busy ({info.status})",
                "wait until the running operation ends (see the CloudFormation console), then push again",
            )
        if info.status in _BROKEN:
            raise TargetError(
                f"{self.where} is in {info.status} and cannot be updated",
                f"for UPDATE_ROLLBACK_FAILED: `aws cloudformation continue-update-rollback --stack-name "
                f"{info.name}`; otherwise remove it (`sls-deploy remove NAME --target aws`) and push again",
            )
        return info

    def _check(self, outcome: Outcome, what: str, created: bool) -> None:
        if outcome.ok:
            return
        lines = "".join(f"\n  {line}" for line in outcome.failures) or "\n  (no resource reported a reason)"
        hint = (
            "fix the cause above and push again; the failed stack is deleted before the next create"
            if created
            else "fix the cause above and try again; CloudFormation rolled the stack back to its previous state"
        )
        raise TargetError(f"{what} failed: {self.where} ended in {outcome.status}:{lines}", hint)

    # -- change sets --------------------------------------------------------------------------------------
    def _change_set(self, packaged: dict[str, Any], info: StackInfo | None) -> ChangeSet:
        kind = "CREATE" if info is None or info.status == "REVIEW_IN_PROGRESS" else "UPDATE"
        body = template_body(packaged)
        url = self.bucket.put_template(body) if needs_template_url(body) else None
        project = (
            packaged.get("Metadata", {}).get("sls-deploy", {}).get("project") or self.config.project_name
        )
        return self.stack.create_change_set(body, url, kind, {PROJECT_TAG: project})

    def _discard(self, change_set: ChangeSet) -> None:
        """Delete a change set not to be executed, and the empty stack a CREATE change set leaves behind."""
        self.stack.delete_change_set(change_set)
        if change_set.kind == "CREATE":
            self.stack.delete(change_set.stack_id)

    def _refused(self, change_set: ChangeSet) -> TargetError:
        return TargetError(
            f"CloudFormation refused the change set for {self.where}: {change_set.reason or change_set.status}",
            "fix what the message names; a template rejected by the SAM transform is a bug worth reporting",
        )

    def _apply(self, packaged: dict[str, Any], info: StackInfo | None, what: str) -> bool:
        """Create and execute a change set; False when there was nothing to change."""
        return self._execute(self._change_set(packaged, info), what)

    def _execute(self, change_set: ChangeSet, what: str) -> bool:
        """Execute a computed change set and follow the stack; False (the set deleted) when it is empty."""
        if change_set.empty:
            self.stack.delete_change_set(change_set)
            self._progress(f"no changes to {self.where}")
            return False
        if change_set.status != "CREATE_COMPLETE":
            self._discard(change_set)
            raise self._refused(change_set)
        self._progress(f"{what}: {_summary(change_set) or 'updating'} in {self.where}")
        self._check(self.stack.execute(change_set), what, created=change_set.kind == "CREATE")
        return True

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
        template = self._build_template(build)
        preference = _deployment_preference(template, build.name)
        if canary_percent is not None and preference is None:
            raise TargetError(
                f"the template built for {build.name} gives it no deployment preference for the canary",
                "build it with the canary: `sls-deploy push MODEL --name NAME --canary PCT --target aws`",
            )
        info = self._updatable()
        ref = function_ref(template, build.name, "the built template")
        before = (
            self.functions.alias(ref) if info is not None and info.status != "ROLLBACK_COMPLETE" else None
        )
        zips = template_zips(template, self.config.project_dir, build.code)
        packaged = package_template(template, zips, self.bucket)
        notes: list[str] = []
        steps: list[str] = []
        if not self.bucket.exists():
            steps.append(f"create the artifact bucket {self.bucket.name}")
        missing = self.bucket.missing(zips.values())
        steps += [f"upload {z.path.name} to {self.bucket.uri(z.key)}" for z in missing]
        change_set = None
        if info is not None and info.status == "ROLLBACK_COMPLETE":
            notes.append(f"stack {info.name} failed its first create: it is deleted and created anew")
            steps += [f"delete stack {info.name} (ROLLBACK_COMPLETE)", f"create stack {info.name}"]
        else:
            change_set = self._change_set(packaged, info)
            if change_set.empty:
                notes.append("no changes: the stack already runs this template")
            elif change_set.status != "CREATE_COMPLETE":
                self._discard(change_set)
                raise self._refused(change_set)
            else:
                verb = "create" if change_set.kind == "CREATE" else "update"
                steps.append(f"{verb} stack {self.aws.stack_name}: {_summary(change_set)}")
        if preference is not None and canary_percent is not None:
            notes.append(
                f"CodeDeploy shifts live to the new version ({preference}); it rolls back if an alarm fires"
            )
        steps.append(f"prune versions beyond the newest {self.config.keep_versions} that nothing routes to")
        return DeployPlan(
            target=self.name,
            name=build.name,
            where=self.where,
            uploads=tuple(self.bucket.uri(z.key) for z in missing),
            changes=change_set.changes if change_set is not None else (),
            notes=tuple(notes),
            steps=tuple(steps),
            build=build,
            canary_percent=canary_percent,
            handle=_StackPlan(packaged, tuple(zips.values()), change_set, info, before),
        )

    def apply(self, plan: DeployPlan) -> Deployment:
        """Upload what the bucket lacks, then execute the plan's change set and follow the stack."""
        held = plan.handle
        if plan.target != self.name or plan.build is None or not isinstance(held, _StackPlan):
            raise TargetError("this plan was not made by the aws target", "plan with the aws target")
        name = plan.build.name
        if plan.canary_percent is not None:
            self._progress("CodeDeploy shifts live to the new version; the stack update waits until it ends")
        self.bucket.upload(held.zips)
        change_set = held.change_set
        if change_set is None:  # the stack failed its first create: delete it, then create it
            assert held.stack is not None
            self._progress(
                f"stack {held.stack.name} is in ROLLBACK_COMPLETE after a failed first create: deleting it "
                f"before creating it again"
            )
            self._check(self.stack.delete(held.stack.stack_id), "deleting the failed stack", created=False)
            change_set = self._change_set(held.packaged, None)
        applied = self._execute(change_set, f"deploying {name}")
        info, deployed = self._deployed(name)
        after = self._deployment(name, changed=False, info=info, template=deployed)
        if applied:
            self._prune(deployed)
        return replace(after, changed=held.before != after.routing)

    def discard(self, plan: DeployPlan) -> None:
        """Delete the plan's change set (and the empty stack a CREATE change set leaves behind)."""
        held = plan.handle
        if isinstance(held, _StackPlan) and held.change_set is not None:
            if held.change_set.empty:
                self.stack.delete_change_set(held.change_set)
            else:
                self._discard(held.change_set)

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
            self._check(self.stack.delete(info.stack_id), f"deleting {self.where}", created=False)
            self.functions.delete_layers(layer_names(template))
        else:
            kept = without_function(template, name)
            self._apply(kept, info, f"removing {name}")
            self.functions.delete_layers(layer_names(template, only=logical_ids(name)["model_layer"]))
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
