"""Everything that is code: the HTTP APIs, the outbox publisher and the consumers with their
rules, and the dashboard. It can be destroyed and redeployed at will; the data lives in the
stateful stack."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import RegexAppliesTo
from constructs import Construct

from common.settings import (
    TABLE_SUFFIX,
    Access,
    Bus,
    CustomersAppClient,
    FromStage,
    OwnDeadLetters,
    Sender,
    Table,
)
from infra import compliance
from infra.config import StageConfig
from infra.constructs.event_consumer import EventConsumer
from infra.constructs.platform_function import API_MEMORY_MB, PlatformFunction, powertools_layer
from infra.consumers import (
    CONSUMERS,
    HTTP_SERVICES,
    SCHEDULES,
    STREAM_READERS,
    ConsumerSpec,
    Door,
    FunctionSpec,
    HttpService,
    ScheduledSpec,
    StreamReaderSpec,
)
from infra.stateful_stack import StatefulStack
from infra.tables import EVENT_STORE, TABLES, TableSpec

_TABLE_GRANTS = {
    Access.READ: lambda table, function: table.grant_read_data(function),
    Access.WRITE: lambda table, function: table.grant_write_data(function),
    Access.READ_WRITE: lambda table, function: table.grant_read_write_data(function),
}
# An append-only table's (infra/tables.py): reads by key and by partition, and puts. Conditional
# puts, single or in a TransactWriteItems (authorised action by action: a Put needs PutItem, a
# ConditionCheck would need ConditionCheckItem, which no function makes on these tables).
APPEND_READS = ("dynamodb:GetItem", "dynamodb:Query")
APPENDS = ("dynamodb:PutItem",)
# A guard in a transaction that a stream has not reached a version (EventStore.absent).
CHECKS = ("dynamodb:ConditionCheckItem",)


class StatelessStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: StatefulStack,
        consumers: Iterable[ConsumerSpec] = CONSUMERS,
        stream_readers: Iterable[StreamReaderSpec] = STREAM_READERS,
        schedules: Iterable[ScheduledSpec] = SCHEDULES,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.data = data
        self.layer = powertools_layer(self)
        self.functions: dict[str, PlatformFunction] = {}

        for reader in stream_readers:
            self.functions[reader.name] = self._stream_reader(reader)
        self.api = self._api()
        for service in HTTP_SERVICES:
            self.functions[service.name] = self._http_service(service)
        self.consumers = {spec.name: self._consumer(spec) for spec in consumers}
        self.functions |= {name: consumer.handler for name, consumer in self.consumers.items()}
        for schedule in schedules:
            self.functions[schedule.name] = self._scheduled(schedule)
        self._dashboard()

        CfnOutput(self, "ApiUrl", value=self.api.url)
        for name, fn in self.functions.items():
            CfnOutput(self, f"{name}FunctionName", value=fn.function.function_name)
            CfnOutput(self, f"{name}LogGroupName", value=fn.log_group.log_group_name)

    # ---- what each function uses: its Settings, granted and set in its environment -----------

    def _wire(self, spec: FunctionSpec, function: lambda_.Function, dead_letters: sqs.IQueue | None = None) -> None:
        """Each field of the function's Settings (lambdas/common/settings.py) becomes an
        environment variable, and what it names is granted as the field says: a table read,
        written or both, the bus, its own dead-letter queue, the stage's sender identity."""
        settings = spec.settings
        for field, use in settings.uses().items():
            value: str | None = None
            match use:
                case Table(access=access):
                    key = field.removesuffix(TABLE_SUFFIX)
                    table = self.data.tables[key]
                    value = table.table_name
                    self._grant_table(spec, TABLES[key], access, table, function)
                    index = TABLES[key].index
                    if index and access is not Access.WRITE and function.role is not None:
                        compliance.excuse(
                            function.role,
                            compliance.TABLE_INDEXES,
                            children=True,
                            applies_to=[
                                RegexAppliesTo(regex=f"/^Resource::.*{TABLES[key].logical_id}.*\\/index\\/\\*$/g")
                            ],
                        )
                case Bus():
                    value = self.data.bus.event_bus_name
                    self.data.bus.grant_put_events_to(function)
                case OwnDeadLetters():
                    if dead_letters is None:
                        raise ValueError(f"{spec.name}: its Settings use its dead-letter queue, and it has none")
                    value = dead_letters.queue_url
                    dead_letters.grant_send_messages(function)
                case Sender():
                    value = self.config.email_sender
                    self.data.sender_identity.grant_send_email(function)  # from the stage's sender only
                case CustomersAppClient():
                    value = self.data.customers.client.user_pool_client_id
                case FromStage():
                    value = str(getattr(self.config, field))
            if value is not None:
                function.add_environment(settings.variable(field), value)
        if (spec.appends_to or spec.checks) and settings.tables().get(EVENT_STORE.key) in (None, Access.READ):
            raise ValueError(f"{spec.name}: declares streams it appends to or checks, and writes no event store")

    @staticmethod
    def _grant_table(
        spec: FunctionSpec, declared: TableSpec, access: Access, table: dynamodb.ITable, function: lambda_.Function
    ) -> None:
        """The use of a table its Settings declare. Items of an append-only table are only ever put
        (never updated or deleted), and on the event store only in the streams the function
        appends to, where infra/consumers.py says which (dynamodb:LeadingKeys)."""
        if not declared.append_only:
            _TABLE_GRANTS[access](table, function)
            return
        if access is not Access.WRITE:
            table.grant(function, *APPEND_READS)
        if access is Access.READ:
            return
        if declared is EVENT_STORE and spec.checks is not None:
            function.add_to_role_policy(
                iam.PolicyStatement(actions=list(CHECKS), resources=[table.table_arn], conditions=spec.checks.condition)
            )
        streams = spec.appends_to if declared is EVENT_STORE else None
        if streams is None:
            table.grant(function, *APPENDS)
            return
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(APPENDS), resources=[table.table_arn], conditions=streams.condition)
        )

    # ---- functions --------------------------------------------------------------------------

    def _function(
        self, spec: FunctionSpec, dead_letters: sqs.IQueue | None = None, *, service: str | None = None, **props: Any
    ) -> PlatformFunction:
        """A function of infra/consumers.py (not a consumer: EventConsumer builds those), given
        what its Settings use."""
        function = PlatformFunction(
            self,
            spec.name,
            config=self.config,
            handler=spec.handler,
            service=service or spec.name,
            description=spec.description,
            layer=self.layer,
            **props,
        )
        self._wire(spec, function.function, dead_letters)
        return function

    def _dead_letter_queue(self, owner: str) -> sqs.IQueue:
        # Imported by ARN: the stateful stack owns the queue and its resource policy.
        return sqs.Queue.from_queue_arn(
            self, f"{owner}DeadLetters", self.data.dead_letter_queues[owner].queue.queue_arn
        )

    def _stream_reader(self, spec: StreamReaderSpec) -> PlatformFunction:
        """A function started by a table's stream, as its spec says: a batch that keeps failing is
        parked in its dead-letter queue, with the batch's place in the stream."""
        dead_letters = self._dead_letter_queue(spec.name)
        props: dict[str, Any] = {}
        if spec.speaks_for_services:
            # Imported (mutable): its grants are policies of this stack, attached to the role the
            # stateful stack's bus policy names as the only voice of the platform's services. It
            # starts no trace of its own: each event goes on in the trace of the invocation that
            # stored it, under a segment it records there (lambdas/common/tracing.py); PassThrough
            # keeps the X-Ray writes that segment needs, and a stream batch untraced.
            props = {
                "role": iam.Role.from_role_arn(
                    self, f"{spec.name}Role", self.data.publisher_role.role_arn, mutable=True
                ),
                "tracing": lambda_.Tracing.PASS_THROUGH,
            }
        # the outbox's logs and metrics have always named it "publisher"
        reader = self._function(spec, dead_letters, service="publisher" if spec.speaks_for_services else None, **props)
        reader.function.add_event_source(
            sources.DynamoEventSource(
                self.data.tables[spec.table.key],
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=spec.batch_size,
                max_batching_window=self.config.analytics_batching_window if spec.batching_window else None,
                bisect_batch_on_error=spec.bisect_on_error,
                report_batch_item_failures=spec.reports_item_failures or None,
                retry_attempts=spec.retry_attempts,
                on_failure=sources.SqsDlq(dead_letters),
            )
        )
        compliance.excuse(reader.role, compliance.STREAM_LISTING, applies_to=["Resource::*"], children=True)
        return reader

    def _api(self) -> apigw.RestApi:
        """One REST API for every service: the customers' user pool on the customer routes, IAM
        (SigV4) on the staff routes, throttled, access- and execution-logged, and a JSON object
        required before any function is invoked."""
        access_logs = logs.LogGroup(
            self, "ApiAccessLogs", retention=self.config.log_retention, removal_policy=self.config.removal_policy
        )
        api = apigw.RestApi(
            self,
            "Api",
            description="Order platform API",
            deploy_options=apigw.StageOptions(
                stage_name=self.config.stage,
                throttling_rate_limit=100,
                throttling_burst_limit=200,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # bodies carry customer data: keep them out of logs
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        self._customers = apigw.CognitoUserPoolsAuthorizer(
            self, "CustomersAuthorizer", cognito_user_pools=[self.data.customers.pool]
        )
        self._validator = api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        self._json_object = api.add_model(
            "JsonObject",
            content_type="application/json",
            model_name="JsonObject",
            description="Any JSON object: fields are validated by the function, which names the one at fault",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
        )
        # Gateway-made 4xx answer in the API's own error shape.
        for response_type, field in (
            (apigw.ResponseType.BAD_REQUEST_BODY, "body"),
            (apigw.ResponseType.BAD_REQUEST_PARAMETERS, "parameters"),
        ):
            api.add_gateway_response(
                f"{field.title()}Invalid",
                type=response_type,
                status_code="400",
                templates={
                    "application/json": json.dumps(
                        {
                            "message": f"invalid {field}: $context.error.validationErrorString",
                            "errors": [{"field": field, "message": "$context.error.validationErrorString"}],
                        }
                    )
                },
            )
        compliance.excuse(api.deployment_stage, compliance.NO_WAF)
        role = api.node.try_find_child("CloudWatchRole")
        if role is not None:
            compliance.excuse(role, compliance.API_LOGGING_ROLE)
        return api

    def _http_service(self, service: HttpService) -> PlatformFunction:
        fn = self._function(service, memory_size=API_MEMORY_MB)
        integration = apigw.LambdaIntegration(fn.function)
        for method, path in service.routes:
            with_body = method in ("POST", "PUT") and not path.endswith("/cancel")
            door = (
                {"authorization_type": apigw.AuthorizationType.COGNITO, "authorizer": self._customers}
                if service.door is Door.CUSTOMER
                else {"authorization_type": apigw.AuthorizationType.IAM}
            )
            added = self.api.root.resource_for_path(path).add_method(
                method,
                integration,
                request_validator=self._validator,
                request_models={"application/json": self._json_object} if with_body else None,
                **door,
            )
            if service.door is Door.STAFF:
                compliance.excuse(added, compliance.IAM_AUTHORIZED_API)
        return fn

    def _consumer(self, spec: ConsumerSpec) -> EventConsumer:
        consumer = EventConsumer(
            self,
            spec,
            config=self.config,
            bus=self.data.bus,
            dead_letter_queue=self._dead_letter_queue(spec.name),
            layer=self.layer,
        )
        self._wire(spec, consumer.function)
        return consumer

    def _scheduled(self, spec: ScheduledSpec) -> PlatformFunction:
        """A function run by an EventBridge schedule, as its spec says."""
        dead_letters = self._dead_letter_queue(spec.name)
        function = self._function(
            spec,
            timeout=Duration.minutes(spec.timeout_minutes),
            retry_attempts=spec.retry_attempts,
            on_failure=destinations.SqsDestination(dead_letters),
        )
        events.Rule(
            self,
            f"{spec.name}Schedule",
            schedule=events.Schedule.rate(Duration.minutes(spec.every_minutes)),
            description=spec.description,
            targets=[
                targets.LambdaFunction(
                    function.function,
                    dead_letter_queue=dead_letters,
                    retry_attempts=spec.delivery_retry_attempts,
                    max_event_age=Duration.minutes(spec.delivery_max_age_minutes),
                )
            ],
        )
        return function

    # ---- what an operator looks at ------------------------------------------------------------

    def _dashboard(self) -> None:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        minute = Duration.minutes(1)
        for name, consumer in self.consumers.items():
            fn = consumer.function
            depth = self.data.dead_letter_queues[name].queue.metric_approximate_number_of_messages_visible(
                period=minute
            )
            event_age = cloudwatch.Metric(
                namespace="AWS/Lambda",
                metric_name="AsyncEventAge",
                statistic="Maximum",
                period=minute,
                dimensions_map={"FunctionName": fn.function_name},
            )
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name}: invocations and errors",
                    width=8,
                    left=[fn.metric_invocations(period=minute), fn.metric_errors(period=minute)],
                ),
                cloudwatch.GraphWidget(title=f"{name}: dead letters", width=8, left=[depth]),
                cloudwatch.GraphWidget(title=f"{name}: event age (ms)", width=8, left=[event_age]),
            )
