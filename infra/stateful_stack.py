"""Everything that holds data: the event store, read models, the bus and its archive, and the
dead-letter queues. Kept apart from code so a redeploy of functions can never replace them."""

from __future__ import annotations

from typing import Iterable

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.consumers import ConsumerSpec
from infra.names import bus_name

PUBLISHER = "Publisher"


class StatefulStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, consumers: Iterable[ConsumerSpec], **kwargs
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        self.config = config

        self.event_store = self._table(
            "EventStore",
            partition_key=dynamodb.Attribute(name="aggregateId", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="version", type=dynamodb.AttributeType.NUMBER),
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            deletion_protection=config.retain_data,
        )
        self.orders_table = self._table(
            "OrdersReadModel",
            partition_key=dynamodb.Attribute(name="orderId", type=dynamodb.AttributeType.STRING),
        )
        self.idempotency_table = self._table(
            "IdempotencyRecords",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
        )

        # The one physical name we fix: producers and `aws events put-events` address the bus by it.
        self.bus = events.EventBus(
            self, "EventBus", event_bus_name=bus_name(config.stage), description=f"Order platform events ({config.stage})"
        )
        _pin(self.bus, "EventBus")
        self.archive = events.Archive(
            self,
            "EventArchive",
            source_event_bus=self.bus,
            description="Every event on the bus, for replay",
            event_pattern=events.EventPattern(account=[self.account]),
            retention=Duration.days(365 if config.retain_data else 30),
        )
        _pin(self.archive, "EventArchive")

        self.dead_letter_queues: dict[str, sqs.Queue] = {
            name: self._dead_letter_queue(name) for name in [PUBLISHER, *(c.name for c in consumers)]
        }

        self._outputs()

    def _table(self, logical_id: str, **props) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            logical_id,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=self.config.point_in_time_recovery
            ),
            removal_policy=self.config.removal_policy,
            **props,
        )
        _pin(table, logical_id)
        return table

    def _dead_letter_queue(self, owner: str) -> sqs.Queue:
        logical_id = f"{owner}DeadLetterQueue"
        queue = sqs.Queue(
            self,
            logical_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=self.config.dlq_retention,
            removal_policy=self.config.removal_policy,
        )
        # Rule targets in the stateless stack send here on delivery failure. Granting the
        # rules of this bus (not each rule by ARN) keeps the dependency one-way: data never
        # depends on code.
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowRulesOfThisBus",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{self.partition}:events:{self.region}:{self.account}:rule/{self.bus.event_bus_name}/*"
                    }
                },
            )
        )
        _pin(queue, logical_id)
        return queue

    def _outputs(self) -> None:
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name)
        CfnOutput(self, "EventStoreTableName", value=self.event_store.table_name)
        CfnOutput(self, "OrdersTableName", value=self.orders_table.table_name)
        for owner, queue in self.dead_letter_queues.items():
            CfnOutput(self, f"{owner}DeadLetterQueueUrl", value=queue.queue_url)


def _pin(construct: Construct, logical_id: str) -> None:
    """Give a stateful resource a fixed logical id: renaming it would replace (and empty) it."""
    construct.node.default_child.override_logical_id(logical_id)  # type: ignore[union-attr]
