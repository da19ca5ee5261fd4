"""Deploying the aws target's stack: plan a build's change set, then apply it, or discard it.

`Deployer.plan` takes the template the build rendered (the build record's, never re-read from disk), points its
CodeUri/ContentUri at the content-addressed zips of the artifact bucket and creates the stack's change set
(the SAM transform runs in CloudFormation); the plan keeps that change set (StackPlan). `apply` uploads the
zips the bucket lacks, executes the plan's change set and follows the stack's events; an empty change set
means "no changes". A stack left in ROLLBACK_COMPLETE by a failed first create cannot take a change set: its
plan says so, and apply deletes the stack and creates the change set then. `discard` (push --dry-run)
deletes the plan's change set (and the empty stack a CREATE leaves). `apply_template` creates and executes
a change set at once (remove takes a model out of the stack with it).

Side effects: uploads to the artifact bucket; creates, executes and deletes change sets; deletes stacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...core.config import ProjectConfig
from ...core.errors import TargetError
from ...core.names import PROJECT_TAG, logical_ids
from ...core.progress import Progress
from ...core.records import AliasRouting, DeployPlan, FunctionBuild
from ...template.rendered import template_functions
from .artifacts import ArtifactBucket, LocalZip, package_template, template_zips
from .functions import Functions, function_ref
from .stack import ChangeSet, Outcome, Stack, StackInfo, needs_template_url, template_body

BROKEN = {"ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "CREATE_FAILED"}


@dataclass(frozen=True)
class StackPlan:
    """What an aws plan holds for apply: the model, the packaged template, the zips it points at, the change
    set created for it (None when the stack must be deleted first), and the alias's routing before."""

    name: str
    packaged: dict[str, Any]
    zips: tuple[LocalZip, ...]
    change_set: ChangeSet | None
    stack: StackInfo | None
    before: AliasRouting | None


def held_plan(plan: DeployPlan) -> StackPlan:
    """The StackPlan an aws plan holds for apply."""
    held = plan.handle
    if plan.target != "aws" or plan.build is None or not isinstance(held, StackPlan):
        raise TargetError("this plan was not made by the aws target", "plan with the aws target")
    return held


def summary(change_set: ChangeSet) -> str:
    """E.g. "3 to add, 1 to modify"."""
    counts: dict[str, int] = {}
    for change in change_set.changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    return ", ".join(f"{n} to {action.lower()}" for action, n in sorted(counts.items()))


def deployment_preference(template: Mapping[str, Any], name: str) -> str | None:
    """The CodeDeploy configuration the template's function of model `name` deploys with, None without."""
    function = template.get("Resources", {}).get(logical_ids(name)["function"], {})
    preference = function.get("Properties", {}).get("DeploymentPreference")
    if not isinstance(preference, dict):
        return None
    kind = preference.get("Type")
    return kind if isinstance(kind, str) else "a custom deployment configuration"


def build_template(build: FunctionBuild, canary_percent: float | None) -> dict[str, Any]:
    """The project template `build` was rendered into (what template.yaml holds), checked: it holds the
    build's function, with a deployment preference when a canary is asked for."""
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
    if canary_percent is not None and deployment_preference(build.template, build.name) is None:
        raise TargetError(
            f"the template built for {build.name} gives it no deployment preference for the canary",
            "build it with the canary: `sls-deploy push MODEL --name NAME --canary PCT --target aws`",
        )
    return dict(build.template)


class Deployer:
    """Change sets of the project's stack: plan, apply and discard them (AwsTarget's deploy and remove).
    `where` names the stack in messages."""

    def __init__(
        self,
        config: ProjectConfig,
        stack: Stack,
        bucket: ArtifactBucket,
        functions: Functions,
        progress: Progress,
        where: str,
    ) -> None:
        self._config = config
        self._stack = stack
        self._bucket = bucket
        self._functions = functions
        self._progress = progress
        self._where = where

    def plan(
        self, build: FunctionBuild, template: dict[str, Any], canary_percent: float | None
    ) -> DeployPlan:
        """What deploying `template` (build_template's) would do: the uploads the bucket lacks and the stack's
        change set, created and kept in the plan for `apply` (or `discard`)."""
        info = self._updatable()
        ref = function_ref(template, build.name, "the built template")
        before = (
            self._functions.alias(ref) if info is not None and info.status != "ROLLBACK_COMPLETE" else None
        )
        zips = template_zips(template, self._config.project_dir, build.code)
        packaged = package_template(template, zips, self._bucket)
        notes: list[str] = []
        steps: list[str] = []
        if not self._bucket.exists():
            steps.append(f"create the artifact bucket {self._bucket.name}")
        missing = self._bucket.missing(zips.values())
        steps += [f"upload {z.path.name} to {self._bucket.uri(z.key)}" for z in missing]
        change_set = None
        if info is not None and info.status == "ROLLBACK_COMPLETE":
            notes.append(f"stack {info.name} failed its first create: it is deleted and created anew")
            steps += [f"delete stack {info.name} (ROLLBACK_COMPLETE)", f"create stack {info.name}"]
        else:
            change_set = self._change_set(packaged, info)
            if change_set.empty:
                notes.append("no changes: the stack already runs this template")
            elif change_set.status != "CREATE_COMPLETE":
                self._drop(change_set)
                raise self._refused(change_set)
            else:
                verb = "create" if change_set.kind == "CREATE" else "update"
                steps.append(f"{verb} stack {self._stack.name}: {summary(change_set)}")
        preference = deployment_preference(template, build.name)
        if preference is not None and canary_percent is not None:
            notes.append(
                f"CodeDeploy shifts live to the new version ({preference}); it rolls back if an alarm fires"
            )
        steps.append(f"prune versions beyond the newest {self._config.keep_versions} that nothing routes to")
        return DeployPlan(
            target="aws",
            name=build.name,
            where=self._where,
            uploads=tuple(self._bucket.uri(z.key) for z in missing),
            changes=change_set.changes if change_set is not None else (),
            notes=tuple(notes),
            steps=tuple(steps),
            build=build,
            canary_percent=canary_percent,
            handle=StackPlan(build.name, packaged, tuple(zips.values()), change_set, info, before),
        )

    def apply(self, held: StackPlan, canary: bool) -> bool:
        """Upload what the bucket lacks, then execute the plan's change set and follow the stack; False when
        there was nothing to change."""
        if canary:
            self._progress("CodeDeploy shifts live to the new version; the stack update waits until it ends")
        self._bucket.upload(held.zips)
        change_set = held.change_set
        if change_set is None:  # the stack failed its first create: delete it, then create it
            assert held.stack is not None
            self._progress(
                f"stack {held.stack.name} is in ROLLBACK_COMPLETE after a failed first create: deleting it "
                f"before creating it again"
            )
            self.check(self._stack.delete(held.stack.stack_id), "deleting the failed stack", created=False)
            change_set = self._change_set(held.packaged, None)
        return self._execute(change_set, f"deploying {held.name}")

    def discard(self, change_set: ChangeSet) -> None:
        """Delete a planned change set (and the empty stack a CREATE change set leaves behind)."""
        if change_set.empty:
            self._stack.delete_change_set(change_set)
        else:
            self._drop(change_set)

    def apply_template(self, packaged: dict[str, Any], info: StackInfo | None, what: str) -> bool:
        """Create and execute a change set; False when there was nothing to change."""
        return self._execute(self._change_set(packaged, info), what)

    def check(self, outcome: Outcome, what: str, created: bool) -> None:
        """Raise when a stack operation failed, naming the failed resources with CloudFormation's reasons."""
        if outcome.ok:
            return
        lines = "".join(f"\n  {line}" for line in outcome.failures) or "\n  (no resource reported a reason)"
        hint = (
            "fix the cause above and push again; the failed stack is deleted before the next create"
            if created
            else "fix the cause above and try again; CloudFormation rolled the stack back to its previous state"
        )
        raise TargetError(f"{what} failed: {self._where} ended in {outcome.status}:{lines}", hint)

    def _updatable(self) -> StackInfo | None:
        """The stack as a change set finds it (None: it does not exist); TargetError when it is busy or broken.
        A stack in ROLLBACK_COMPLETE is returned as it is: apply deletes it before the create."""
        info = self._stack.describe()
        if info is None:
            return None
        if info.busy:
            raise TargetError(
                f"{self._where} is busy ({info.status})",
                "wait until the running operation ends (see the CloudFormation console), then push again",
            )
        if info.status in BROKEN:
            raise TargetError(
                f"{self._where} is in {info.status} and cannot be updated",
                f"for UPDATE_ROLLBACK_FAILED: `aws cloudformation continue-update-rollback --stack-name "
                f"{info.name}`; otherwise remove it (`sls-deploy remove NAME --target aws`) and push again",
            )
        return info

    def _change_set(self, packaged: dict[str, Any], info: StackInfo | None) -> ChangeSet:
        kind = "CREATE" if info is None or info.status == "REVIEW_IN_PROGRESS" else "UPDATE"
        body = template_body(packaged)
        url = self._bucket.put_template(body) if needs_template_url(body) else None
        project = (
            packaged.get("Metadata", {}).get("sls-deploy", {}).get("project") or self._config.project_name
        )
        return self._stack.create_change_set(body, url, kind, {PROJECT_TAG: project})

    def _drop(self, change_set: ChangeSet) -> None:
        """Delete a change set not to be executed, and the empty stack a CREATE change set leaves behind."""
        self._stack.delete_change_set(change_set)
        if change_set.kind == "CREATE":
            self._stack.delete(change_set.stack_id)

    def _refused(self, change_set: ChangeSet) -> TargetError:
        return TargetError(
            f"CloudFormation refused the change set for {self._where}: {change_set.reason or change_set.status}",
            "fix what the message names; a template rejected by the SAM transform is a bug worth reporting",
        )

    def _execute(self, change_set: ChangeSet, what: str) -> bool:
        """Execute a computed change set and follow the stack; False (the set deleted) when it is empty."""
        if change_set.empty:
            self._stack.delete_change_set(change_set)
            self._progress(f"no changes to {self._where}")
            return False
        if change_set.status != "CREATE_COMPLETE":
            self._drop(change_set)
            raise self._refused(change_set)
        self._progress(f"{what}: {summary(change_set) or 'updating'} in {self._where}")
        self.check(self._stack.execute(change_set), what, created=change_set.kind == "CREATE")
        return True
