"""The CloudFormation and STS calls of the aws target."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import CREDENTIALS_HINT, Api, AwsError, calling


class StsApi(Api):
    service = "sts"

    def account_id(self) -> str:
        """The account of the credentials (the call that checks them)."""
        with calling("checking the AWS credentials (sts:GetCallerIdentity)", CREDENTIALS_HINT):
            return str(self._client.get_caller_identity()["Account"])


class CloudFormationApi(Api):
    """Calls on the context's stack (by name, or by id where a call takes `stack`)."""

    service = "cloudformation"

    @property
    def _name(self) -> str:
        return self.aws.stack_name

    def describe_stack(self, stack: str) -> dict[str, Any] | None:
        """The stack's description, None when it does not exist."""
        try:
            with calling(f"describing stack {self._name}"):
                found = self._client.describe_stacks(StackName=stack)["Stacks"]
        except AwsError as exc:
            if exc.code == "ValidationError" and "does not exist" in exc.detail:
                return None
            raise
        return dict(found[0]) if found else None

    def all_stacks(self) -> list[dict[str, Any]]:
        """The descriptions of every stack in the region."""
        found: list[dict[str, Any]] = []
        with calling("listing the region's stacks"):
            for page in self._client.get_paginator("describe_stacks").paginate():
                found.extend(page["Stacks"])
        return found

    def original_template(self, stack: str) -> Any:
        """The stack's template before transforms: a dict (JSON templates) or text (YAML ones)."""
        with calling(f"reading the template of stack {self._name}"):
            return self._client.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]

    def events(self, stack: str) -> Iterator[dict[str, Any]]:
        """The stack's events, newest first, read page by page as they are consumed."""
        with calling(f"reading the events of stack {self._name}"):
            for page in self._client.get_paginator("describe_stack_events").paginate(StackName=stack):
                yield from page["StackEvents"]

    def latest_event_id(self, stack: str) -> str | None:
        with calling(f"reading the events of stack {self._name}"):
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
        with calling(f"creating a change set for stack {self._name}"):
            return str(self._client.create_change_set(**params)["Id"])

    def describe_change_set(self, change_set_id: str) -> dict[str, Any]:
        """The change set as its last page describes it, with the Changes of every page."""
        changes: list[dict[str, Any]] = []
        token: str | None = None
        with calling(f"describing the change set of stack {self._name}"):
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
        with calling(f"deleting the change set of stack {self._name}"):
            self._client.delete_change_set(ChangeSetName=change_set_id)

    def execute_change_set(self, change_set_id: str) -> None:
        with calling(f"executing the change set of stack {self._name}"):
            self._client.execute_change_set(ChangeSetName=change_set_id)

    def delete_stack(self, stack: str) -> None:
        with calling(f"deleting stack {self._name}"):
            self._client.delete_stack(StackName=stack)
