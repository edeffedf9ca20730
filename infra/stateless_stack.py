"""Everything that is code: the API, the outbox publisher and the consumers with their rules.
It can be destroyed and redeployed at will; the data lives in the stateful stack."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.event_consumer import EventConsumer
from infra.constructs.platform_function import PlatformFunction, powertools_layer
from infra.consumers import ORDERS_PROJECTION, ConsumerSpec
from infra.stateful_stack import PUBLISHER, StatefulStack


class StatelessStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, data: StatefulStack, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.data = data
        self.layer = powertools_layer(self)

        self.publisher = self._publisher()
        self.orders_api, self.api = self._orders_api()
        self.projection = self._consumer(
            ORDERS_PROJECTION,
            environment={
                "ORDERS_TABLE_NAME": data.orders_table.table_name,
                "EVENT_STORE_TABLE_NAME": data.event_store.table_name,
            },
        )
        data.orders_table.grant_read_write_data(self.projection.function)
        data.event_store.grant_read_data(self.projection.function)

        CfnOutput(self, "ApiUrl", value=self.api.url)
        for name, fn in self.functions().items():
            CfnOutput(self, f"{name}FunctionName", value=fn.function.function_name)
            CfnOutput(self, f"{name}LogGroupName", value=fn.log_group.log_group_name)

    def functions(self) -> dict[str, PlatformFunction]:
        """Every function by its construct name (what `make invoke FN=...` takes)."""
        return {"Publisher": self.publisher, "OrdersApi": self.orders_api, ORDERS_PROJECTION.name: self.projection.handler}

    def _dead_letter_queue(self, owner: str) -> sqs.IQueue:
        # Imported by ARN: the stateful stack owns the queue and its resource policy.
        return sqs.Queue.from_queue_arn(self, f"{owner}DeadLetters", self.data.dead_letter_queues[owner].queue_arn)

    def _publisher(self) -> PlatformFunction:
        publisher = PlatformFunction(
            self,
            PUBLISHER,
            config=self.config,
            handler="publisher.handler.handler",
            service="publisher",
            description="Outbox: event-store stream -> EventBridge bus",
            layer=self.layer,
            environment={"EVENT_BUS_NAME": self.data.bus.event_bus_name},
        )
        publisher.function.add_event_source(
            sources.DynamoEventSource(
                self.data.event_store,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                max_batching_window=Duration.seconds(1),
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=5,
                on_failure=sources.SqsDlq(self._dead_letter_queue(PUBLISHER)),
            )
        )
        self.data.bus.grant_put_events_to(publisher.function)
        return publisher

    def _orders_api(self) -> tuple[PlatformFunction, apigw.RestApi]:
        orders_api = PlatformFunction(
            self,
            "OrdersApi",
            config=self.config,
            handler="orders.api.handler",
            service="orders",
            description="Orders HTTP API: commands to the event store, queries to the read model",
            layer=self.layer,
            environment={
                "EVENT_STORE_TABLE_NAME": self.data.event_store.table_name,
                "ORDERS_TABLE_NAME": self.data.orders_table.table_name,
                "IDEMPOTENCY_TABLE_NAME": self.data.idempotency_table.table_name,
            },
        )
        fn = orders_api.function
        self.data.event_store.grant_read_write_data(fn)
        self.data.orders_table.grant_read_data(fn)
        self.data.idempotency_table.grant_read_write_data(fn)

        api = apigw.RestApi(
            self,
            "Api",
            description="Order platform API",
            deploy_options=apigw.StageOptions(
                stage_name=self.config.stage,
                throttling_rate_limit=100,
                throttling_burst_limit=200,
                tracing_enabled=True,
            ),
        )
        integration = apigw.LambdaIntegration(fn)
        orders = api.root.add_resource("orders")
        orders.add_method("POST", integration)
        order = orders.add_resource("{id}")
        order.add_method("GET", integration)
        order.add_method("PUT", integration)
        order.add_resource("cancel").add_method("POST", integration)
        order.add_resource("events").add_method("GET", integration)
        return orders_api, api

    def _consumer(self, spec: ConsumerSpec, *, environment: dict[str, str]) -> EventConsumer:
        return EventConsumer(
            self,
            spec.name,
            config=self.config,
            bus=self.data.bus,
            event_types=spec.event_types,
            handler=spec.handler,
            description=spec.description,
            dead_letter_queue=self._dead_letter_queue(spec.name),
            layer=self.layer,
            environment=environment,
        )
