"""A Lambda function as every function of the platform is built: one code asset, Powertools,
tracing, JSON logs with a retention and the stage's log levels, its own role, on arm64."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra import compliance
from infra.config import StageConfig
from infra.runtime import ARCHITECTURE, POWERTOOLS_LAYER_PARAMETER, PYTHON_RUNTIME

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
# On a stage that allows fault injection, every function carries this layer, and its handler is
# the layer's wrapper, which runs the function's own (FAULT_INJECTION_HANDLER) with the switches'
# faults around it (fault_injection/python/platform_faults/wrapper.py). Nothing of it on prod.
FAULT_INJECTION_DIR = LAMBDAS_DIR.parent / "fault_injection"
FAULT_WRAPPER = "platform_faults.wrapper.handler"
FAULT_HANDLER_VARIABLE = "FAULT_INJECTION_HANDLER"
# Memory, from what `make bench` measures (docs/PERFORMANCE.md): every function peaks at 54-78 MB.
# Lambda bills CPU time at the same price whatever the memory (below 1,769 MB a function gets
# memory/1,769 of a vCPU and runs that much longer), but waiting on I/O costs in proportion to
# memory: the functions nobody waits on take the smallest size with twice their peak in hand;
# the API functions keep 256 MB, as a customer waits on their CPU time.
ASYNC_MEMORY_MB = 160
API_MEMORY_MB = 256
# What a traced function writes to X-Ray: two actions without resource-level permissions.
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
_TRACING_MODES = {lambda_.Tracing.ACTIVE: "Active", lambda_.Tracing.PASS_THROUGH: "PassThrough"}


def fault_injection_layer(scope: Construct, config: StageConfig) -> lambda_.ILayerVersion | None:
    """The stack's fault-injection layer, on a stage that allows it (one for the stack's functions)."""
    if not config.fault_injection:
        return None
    stack = Stack.of(scope)
    found = stack.node.try_find_child("FaultInjectionLayer")
    if isinstance(found, lambda_.LayerVersion):
        return found
    return lambda_.LayerVersion(
        stack,
        "FaultInjectionLayer",
        code=lambda_.Code.from_asset(str(FAULT_INJECTION_DIR), exclude=["**/__pycache__", "**/*.pyc"]),
        compatible_runtimes=[lambda_.Runtime(PYTHON_RUNTIME, lambda_.RuntimeFamily.PYTHON)],
        description=f"Fault injection for the {config.stage} stage's functions (make fault, make chaos)",
    )


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
        memory_size: int = ASYNC_MEMORY_MB,
        tracing: lambda_.Tracing = lambda_.Tracing.ACTIVE,
        role: iam.IRole | None = None,
        **function_props,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=config.log_retention, removal_policy=config.removal_policy
        )
        # Its own role (or the one given: the publisher's, which the bus policy names), allowed to
        # write its own log group: no AWS-managed policy.
        self.role = role or iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.log_group.grant_write(self.role)
        faults = fault_injection_layer(self, config)
        if faults is not None:
            environment = {**(environment or {}), FAULT_HANDLER_VARIABLE: handler}
            handler = FAULT_WRAPPER
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime(PYTHON_RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.ARM_64 if ARCHITECTURE == "arm64" else lambda_.Architecture.X86_64,
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=["**/__pycache__", "**/*.pyc"]),
            handler=handler,
            description=description,
            layers=[layer] if faults is None else [layer, faults],
            timeout=timeout,
            memory_size=memory_size,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel[config.application_log_level],
            system_log_level_v2=lambda_.SystemLogLevel[config.system_log_level],
            role=self.role,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": "OrderPlatform",
                "POWERTOOLS_LOG_LEVEL": config.application_log_level,  # as AWS_LAMBDA_LOG_LEVEL says on AWS
                "STAGE": config.stage,
                **(environment or {}),
            },
            **function_props,
        )
        self._trace(tracing)
        compliance.excuse(self.function, compliance.PINNED_RUNTIME)
        asynchronous = "on_failure" in function_props
        compliance.excuse(
            self.function, compliance.ASYNC_WITH_DESTINATION if asynchronous else compliance.SYNCHRONOUS_FUNCTION
        )

    def _trace(self, tracing: lambda_.Tracing) -> None:
        """Tracing, with its X-Ray writes in a policy of their own: CDK would add them to the role's
        default policy, where the Resource '*' they need is one finding with any other wildcard of
        that policy, and the exception for them would hide the others."""
        if tracing is lambda_.Tracing.DISABLED:
            return
        cfn = self.function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        cfn.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode=_TRACING_MODES[tracing])
        policy = iam.Policy(
            self, "Tracing", statements=[iam.PolicyStatement(actions=list(XRAY_ACTIONS), resources=["*"])]
        )
        self.role.attach_inline_policy(policy)
        self.function.node.add_dependency(policy)  # traced from its first invocation
        compliance.excuse(policy, compliance.XRAY_WRITES, applies_to=["Resource::*"])
