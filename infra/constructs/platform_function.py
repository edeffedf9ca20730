"""A Lambda function as every function of the platform is built: one code asset, Powertools,
tracing, JSON logs with a retention, its own role."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra import compliance
from infra.config import StageConfig
from infra.runtime import POWERTOOLS_LAYER_PARAMETER, PYTHON_RUNTIME

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"


def powertools_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The public Powertools layer (with pydantic), resolved at deploy time from the SSM
    parameter AWS publishes for exactly the pinned version."""
    arn = ssm.StringParameter.value_for_string_parameter(scope, POWERTOOLS_LAYER_PARAMETER)
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)


class PlatformFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        handler: str,
        service: str,
        description: str,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str] | None = None,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 256,
        **function_props,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=config.log_retention, removal_policy=config.removal_policy)
        # Its own role, allowed to write its own log group: no AWS-managed policy.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description)
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime(PYTHON_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.X86_64,
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=["**/__pycache__", "**/*.pyc"]),
            handler=handler,
            description=description,
            layers=[layer],
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "OrderPlatform",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "STAGE": config.stage,
                **(environment or {}),
            },
            **function_props,
        )
        compliance.excuse(self.role, compliance.XRAY_WRITES, applies_to=["Resource::*"], children=True)
        compliance.excuse(self.function, compliance.PINNED_RUNTIME)
        asynchronous = "on_failure" in function_props
        compliance.excuse(self.function,
                          compliance.ASYNC_WITH_DESTINATION if asynchronous else compliance.SYNCHRONOUS_FUNCTION)
