"""moto, taught the three things CloudFormation does that moto 5 does not, so a whole deploy runs in-process:

- the SAM transform: a change set whose template declares `Transform: AWS::Serverless-2016-10-31` is
  translated with aws-sam-translator (what CloudFormation runs server-side) before moto builds resources;
- AWS::Lambda::Alias and AWS::Lambda::Url resources (moto's Lambda API has both, its CloudFormation does not),
  AWS::Lambda::Version's Description and `Version` attribute, and a layer version's ARN as its `Ref`;
- outputs of a stack created or updated through a change set (moto only computes them on CreateStack);
- AWS::CloudWatch::Alarm and AWS::CloudWatch::Dashboard (moto's CloudWatch API has both, its CloudFormation
  does not), and the CodeDeploy resources of a deployment preference as resources that exist but do nothing
  (moto has no CodeDeploy: traffic shifting and its rollback cannot be emulated).

What stays moto's own: Lambda functions from S3 code, layer versions (named after their logical ID, not
their LayerName), IAM roles, log groups, stack events, "no changes" change sets. Used as a context manager
around `mock_aws()` or a `ThreadedMotoServer` running in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.awslambda.models import LambdaVersion, LayerVersion, lambda_backends
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel

from sls_deploy.template.validate import translate_template

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


class EmulatedAlias(CloudFormationModel):
    __module__ = "moto.awslambda.models"  # moto's model metaclass files models under their service's name

    def __init__(self, arn: str, function_name: str, name: str) -> None:
        self.arn, self.function_name, self.name = arn, function_name, name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Alias"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AliasArn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
    ) -> EmulatedAlias:
        props = cloudformation_json["Properties"]
        alias = lambda_backends[account_id][region_name].create_alias(
            name=props["Name"],
            function_name=props["FunctionName"],
            function_version=str(props["FunctionVersion"]),
            description=props.get("Description", ""),
            routing_config=props.get("RoutingConfig", ""),
        )
        return cls(alias.arn, props["FunctionName"], props["Name"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: EmulatedAlias,
        new_resource_name: str,
        cloudformation_json: dict,
        account_id: str,
        region_name: str,
    ) -> EmulatedAlias:
        props = cloudformation_json["Properties"]
        lambda_backends[account_id][region_name].update_alias(
            name=props["Name"],
            function_name=props["FunctionName"],
            function_version=str(props["FunctionVersion"]),
            description=props.get("Description", ""),
            routing_config=props.get("RoutingConfig", ""),
        )
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        backend = lambda_backends[account_id][region_name]
        if self.function_name in {f.function_name for f in backend.list_functions()}:
            backend.delete_alias(self.name, self.function_name)


class EmulatedUrl(CloudFormationModel):
    __module__ = "moto.awslambda.models"

    def __init__(self, url: str, target: str) -> None:
        self.url, self.target = url, target

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("FunctionUrl", "FunctionArn")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.url if attribute_name == "FunctionUrl" else self.target

    @property
    def physical_resource_id(self) -> str:
        return self.target

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
    ) -> EmulatedUrl:
        props = cloudformation_json["Properties"]
        function_arn = props["TargetFunctionArn"].rsplit(":", 1)[0]  # moto's URLs ignore the qualifier
        config = lambda_backends[account_id][region_name].create_function_url_config(
            function_arn, {"AuthType": props["AuthType"]}
        )
        return cls(config.url, props["TargetFunctionArn"])

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: EmulatedUrl,
        new_resource_name: str,
        cloudformation_json: dict,
        account_id: str,
        region_name: str,
    ) -> EmulatedUrl:
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        pass  # goes with its function


class _Named:
    """Mixin: a resource known by its name, recreated on update (the API behind it overwrites by name).
    Models must subclass CloudFormationModel directly: moto lists only its direct subclasses."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict,
        account_id: str,
        region_name: str,
    ) -> Any:
        return cls.create_from_cloudformation_json(  # type: ignore[attr-defined]
            new_resource_name, cloudformation_json, account_id, region_name
        )


class EmulatedAlarm(_Named, CloudFormationModel):
    __module__ = "moto.cloudwatch.models"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{self.name}"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
    ) -> EmulatedAlarm:
        props = cloudformation_json["Properties"]
        cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=props["AlarmName"],
            namespace=props.get("Namespace", ""),
            metric_name=props.get("MetricName", ""),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            period=int(props.get("Period", 60)),
            threshold=float(props["Threshold"]),
            statistic=props.get("Statistic", ""),
            description=props.get("AlarmDescription", ""),
            dimensions=list(props.get("Dimensions", [])),
            alarm_actions=[],
            extended_statistic=props.get("ExtendedStatistic"),
            treat_missing_data=props.get("TreatMissingData"),
        )
        return cls(props["AlarmName"])

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.name])


class EmulatedDashboard(_Named, CloudFormationModel):
    __module__ = "moto.cloudwatch.models"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DashboardName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Dashboard"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
    ) -> EmulatedDashboard:
        props = cloudformation_json["Properties"]
        cloudwatch_backends[account_id][region_name].put_dashboard(
            props["DashboardName"], props["DashboardBody"]
        )
        return cls(props["DashboardName"])

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_dashboards([self.name])


def _inert(resource_type: str) -> type[CloudFormationModel]:
    """A resource that exists in the stack and does nothing (CodeDeploy's, which moto does not have)."""

    class Inert(_Named, CloudFormationModel):
        __module__ = "moto.codedeploy.models"

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return resource_type

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls,
            resource_name: str,
            cloudformation_json: dict,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> CloudFormationModel:
            return cls(resource_name)

        def delete(self, account_id: str, region_name: str) -> None:
            pass

    Inert.__name__ = Inert.__qualname__ = "Emulated" + resource_type.rsplit("::", 1)[1]
    return Inert


CODEDEPLOY_RESOURCES = [
    _inert(kind)
    for kind in (
        "AWS::CodeDeploy::Application",
        "AWS::CodeDeploy::DeploymentGroup",
        "AWS::CodeDeploy::DeploymentConfig",
    )
]


def _version_attribute(self: LambdaVersion, attribute_name: str) -> str:
    return str(self.version)


def _publish_version(
    cls: type, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs: Any
) -> LambdaVersion:
    props = cloudformation_json["Properties"]
    published = lambda_backends[account_id][region_name].publish_version(
        props["FunctionName"], description=props.get("Description", "")
    )
    return LambdaVersion({"Version": published.version})


@contextmanager
def cloudformation_with_sam() -> Iterator[None]:
    """Patch moto's CloudFormation (in this process) as the module docstring says, for the block."""
    patcher = pytest.MonkeyPatch()
    original_parse = cfn_models.ChangeSet._parse_template
    original_execute = cfn_models.CloudFormationBackend.execute_change_set

    def parse_with_transform(self: Any) -> None:
        original_parse(self)
        if self.template_dict.get("Transform") == SAM_TRANSFORM:
            self.template_dict = translate_template(self.template_dict, self.stack.region_name)

    def execute_with_outputs(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original_execute(self, change_set_name, stack_name)
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        stack.template_dict = change_set.template_dict
        stack.output_map = stack._create_output_map()

    patcher.setattr(cfn_models.ChangeSet, "_parse_template", parse_with_transform)
    patcher.setattr(cfn_models.CloudFormationBackend, "execute_change_set", execute_with_outputs)
    patcher.setattr(LambdaVersion, "get_cfn_attribute", _version_attribute, raising=False)
    patcher.setattr(LambdaVersion, "create_from_cloudformation_json", classmethod(_publish_version))
    patcher.setattr(LambdaVersion, "has_cfn_attr", classmethod(lambda cls, attr: attr == "Version"))
    patcher.setattr(LayerVersion, "physical_resource_id", property(lambda self: self.arn), raising=False)
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    try:
        yield
    finally:
        patcher.undo()
