"""The project's CloudFormation stack: describe it, plan a change set, execute it and follow its events.

Plan, then apply: `create_change_set` computes what would change (CREATE for a new stack, UPDATE otherwise;
the SAM transform runs inside CloudFormation, hence CAPABILITY_AUTO_EXPAND), `execute` applies it and `wait`
follows the stack's events until the operation ends, reporting each through `progress` and collecting the
failed resources with CloudFormation's reasons.

Side effects: creates, executes and deletes change sets; deletes stacks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ...core import limits
from ...core.errors import TargetError
from ...core.names import PROJECT_TAG
from ...core.progress import Progress
from ...core.records import PlannedChange
from .client import CloudFormationApi
from .session import AwsContext

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_SUCCEEDED = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE"}
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")


@dataclass(frozen=True)
class StackInfo:
    stack_id: str
    name: str
    status: str
    outputs: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> StackInfo:
        return cls(
            stack_id=data["StackId"],
            name=data["StackName"],
            status=data["StackStatus"],
            outputs={o["OutputKey"]: o.get("OutputValue", "") for o in data.get("Outputs") or []},
            tags={t["Key"]: t["Value"] for t in data.get("Tags") or []},
        )

    @property
    def busy(self) -> bool:
        return self.status.endswith("_IN_PROGRESS") and self.status != "REVIEW_IN_PROGRESS"


@dataclass(frozen=True)
class ChangeSet:
    change_set_id: str
    stack_id: str
    kind: str  # CREATE | UPDATE
    status: str
    reason: str
    changes: tuple[PlannedChange, ...]

    @property
    def empty(self) -> bool:
        """CloudFormation refused it because nothing differs from the deployed stack."""
        return self.status == "FAILED" and any(text in self.reason for text in _NO_CHANGES)


@dataclass(frozen=True)
class StackEvent:
    event_id: str
    logical_id: str
    resource_type: str
    status: str
    reason: str

    def line(self) -> str:
        text = f"{self.logical_id} ({self.resource_type}): {self.status}"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True)
class Outcome:
    """How a stack operation ended: its final status and, on failure, the resources that failed and why."""

    status: str
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in _SUCCEEDED


def planned_change(resource: Mapping[str, Any]) -> PlannedChange:
    """A change set's ResourceChange; the replacement is CloudFormation's only for a Modify."""
    action = resource.get("Action", "")
    return PlannedChange(
        action=action,
        logical_id=resource.get("LogicalResourceId", ""),
        resource_type=resource.get("ResourceType", ""),
        replacement=resource.get("Replacement", "") if action == "Modify" else "",
    )


def parse_template(body: Any) -> dict[str, Any]:
    """GetTemplate's body: boto3 hands JSON templates over as dicts and YAML ones as text."""
    if isinstance(body, Mapping):
        return dict(body)
    loaded = yaml.safe_load(body)
    if not isinstance(loaded, dict):
        raise TargetError("the deployed template is not a mapping", "redeploy with `sls-deploy push`")
    return loaded


class Stack:
    """Operations on one stack (by name, in the context's region)."""

    def __init__(self, aws: AwsContext, progress: Progress, poll_seconds: float = 2.0) -> None:
        self.aws = aws
        self.name = aws.stack_name
        self._progress = progress
        self._poll = poll_seconds
        self._cfn = CloudFormationApi(aws)

    # -- reading -------------------------------------------------------------------------------------------
    def describe(self, stack: str | None = None) -> StackInfo | None:
        """The stack (by name, or by id to see a deleted one), None when it does not exist."""
        found = self._cfn.describe_stack(stack or self.name)
        return StackInfo.from_api(found) if found is not None else None

    def template(self, stack: str | None = None) -> dict[str, Any]:
        """The template the stack was last deployed with, before the SAM transform."""
        return parse_template(self._cfn.original_template(stack or self.name))

    def other_project_stacks(self, own_stack_id: str) -> list[str]:
        """Ids of the other stacks in the region that sls-deploy deployed (they carry its project tag)."""
        infos = [StackInfo.from_api(data) for data in self._cfn.all_stacks()]
        return [i.stack_id for i in infos if PROJECT_TAG in i.tags and i.stack_id != own_stack_id]

    def _events(self, stack: str, stop_at: str | None) -> list[StackEvent]:
        """Events newer than the event `stop_at`, oldest first."""
        found: list[StackEvent] = []
        for data in self._cfn.events(stack):  # newest first, paged as they are read
            if data["EventId"] == stop_at:
                break
            found.append(
                StackEvent(
                    event_id=data["EventId"],
                    logical_id=data.get("LogicalResourceId", ""),
                    resource_type=data.get("ResourceType", ""),
                    status=data.get("ResourceStatus", ""),
                    reason=data.get("ResourceStatusReason", ""),
                )
            )
        return found[::-1]

    def latest_event_id(self, stack: str) -> str | None:
        return self._cfn.latest_event_id(stack)

    # -- change sets ---------------------------------------------------------------------------------------
    def create_change_set(
        self, template_body: str, template_url: str | None, kind: str, tags: dict
    ) -> ChangeSet:
        """Create a change set (CREATE or UPDATE) and wait until CloudFormation has computed it."""
        self._progress(f"computing the change set of stack {self.name}")
        change_set_id = self._cfn.create_change_set(
            name=f"sls-deploy-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}",
            kind=kind,
            capabilities=CAPABILITIES,
            description="sls-deploy push",
            tags=tags,
            template_body=template_body,
            template_url=template_url,
        )
        while True:
            change_set = self.describe_change_set(change_set_id, kind)
            if change_set.status not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
                return change_set
            time.sleep(self._poll)

    def describe_change_set(self, change_set_id: str, kind: str) -> ChangeSet:
        data = self._cfn.describe_change_set(change_set_id)
        return ChangeSet(
            change_set_id=change_set_id,
            stack_id=data["StackId"],
            kind=kind,
            status=data["Status"],
            reason=data.get("StatusReason", ""),
            changes=tuple(planned_change(change.get("ResourceChange", {})) for change in data["Changes"]),
        )

    def delete_change_set(self, change_set: ChangeSet) -> None:
        self._cfn.delete_change_set(change_set.change_set_id)

    def execute(self, change_set: ChangeSet) -> Outcome:
        """Apply the change set and follow the stack until the operation ends."""
        marker = self.latest_event_id(change_set.stack_id)
        self._cfn.execute_change_set(change_set.change_set_id)
        return self.wait(change_set.stack_id, marker)

    # -- following and deleting ----------------------------------------------------------------------------
    def wait(self, stack_id: str, marker: str | None) -> Outcome:
        """Report the stack's events after `marker` until it leaves *_IN_PROGRESS; the outcome."""
        seen = marker
        events: list[StackEvent] = []
        while True:
            info = self.describe(stack_id)
            new = self._events(stack_id, seen)
            for event in new:
                self._progress(f"{self.name}: {event.line()}")
            if new:
                seen = new[-1].event_id
                events.extend(new)
            if info is None:  # a stack deleted by name is gone; by id it reads DELETE_COMPLETE
                return Outcome("DELETE_COMPLETE")
            if not info.status.endswith("_IN_PROGRESS"):
                return Outcome(info.status, () if info.status in _SUCCEEDED else failures(events))
            time.sleep(self._poll)

    def delete(self, stack_id: str) -> Outcome:
        marker = self.latest_event_id(stack_id)
        self._progress(f"deleting stack {self.name}")
        self._cfn.delete_stack(stack_id)
        return self.wait(stack_id, marker)


def failures(events: list[StackEvent]) -> tuple[str, ...]:
    """The failed resources of an operation with CloudFormation's reasons; causes before cancellations."""
    failed = [e for e in events if e.status.endswith("_FAILED") and e.reason]
    causes = [e for e in failed if not e.reason.startswith(_CANCELLED)]
    return tuple(e.line() for e in (causes or failed))


def template_body(template: Mapping[str, Any]) -> str:
    return json.dumps(template, indent=1, sort_keys=False)


def needs_template_url(body: str) -> bool:
    size = len(body.encode("utf-8"))
    if size > limits.MAX_TEMPLATE_URL_BYTES:
        raise TargetError(
            f"the packaged template is {size:,} bytes; CloudFormation accepts at most "
            f"{limits.MAX_TEMPLATE_URL_BYTES:,}",
            "split the project's models over several projects (stacks)",
        )
    return size > limits.MAX_TEMPLATE_BODY_BYTES
