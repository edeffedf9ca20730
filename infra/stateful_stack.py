"""Everything that holds data: the event store, read models and service tables, the bus and its
archive, the dead-letter queues and the topic their alarms notify. Kept apart from code so a
redeploy of functions can never replace them."""

from __future__ import annotations

import json
from typing import Iterable

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_eventschemas as eventschemas
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import compliance
from infra.config import StageConfig
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.consumers import ConsumerSpec
from infra.names import bus_name

PUBLISHER = "Publisher"
SAGA_SWEEP = "SagaSweep"
ANALYTICS_FOLD = "AnalyticsFold"


def _key(name: str, type_: dynamodb.AttributeType = dynamodb.AttributeType.STRING) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=type_)


class StatefulStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, consumers: Iterable[ConsumerSpec], **kwargs
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        self.config = config

        # Source of truth: every event of every aggregate, streamed to the publisher.
        self.event_store = self._table(
            "EventStore",
            partition_key=_key("aggregateId"),
            sort_key=_key("version", dynamodb.AttributeType.NUMBER),
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            deletion_protection=config.retain_data,
        )
        # Powertools idempotency records of POST /orders (its Idempotency-Key); consumers keep none.
        self.idempotency_table = self._table("IdempotencyRecords", partition_key=_key("id"),
                                             time_to_live_attribute="expiration")
        # Read models and service state, each owned by one service.
        self.orders_table = self._table("OrdersReadModel", partition_key=_key("orderId"))
        # Sparse: only pending orders carry pendingSince (when they were placed; it never changes
        # while they wait), so the saga's timeout sweep reads only those, and an order's index
        # entry is written once, placed, and deleted once, settled.
        self.orders_table.add_global_secondary_index(index_name="pending", partition_key=_key("pendingSince"),
                                                     projection_type=dynamodb.ProjectionType.KEYS_ONLY)
        self.user_emails_table = self._table("UserEmails", partition_key=_key("email"))
        self.inventory_table = self._table("Inventory", partition_key=_key("productId"))
        self.email_log_table = self._table("EmailLog", partition_key=_key("id"))
        self.analytics_table = self._table("AnalyticsDaily", partition_key=_key("pk"))
        # One marker an event counted, spread over a few lanes; its stream is folded into the
        # day's counters a batch at a time (lambdas/analytics/counters.py).
        self.analytics_events_table = self._table("AnalyticsEvents", partition_key=_key("lane"), sort_key=_key("eventId"),
                                                  stream=dynamodb.StreamViewType.NEW_IMAGE)
        self.audit_table = self._table("AuditLog", partition_key=_key("correlationId"), sort_key=_key("at"))

        self.bus = events.EventBus(
            self, "EventBus", event_bus_name=bus_name(config.stage), description=f"Order platform events ({config.stage})"
        )
        _pin(self.bus, "EventBus")
        self._only_this_account_may_publish()
        self.archive = events.Archive(
            self,
            "EventArchive",
            source_event_bus=self.bus,
            description="Every event on the bus, for replay",
            event_pattern=events.EventPattern(account=[self.account]),
            retention=Duration.days(365 if config.retain_data else 30),
        )
        _pin(self.archive, "EventArchive")

        self._schema_registry()

        self.sender_identity = ses.EmailIdentity(self, "SenderIdentity", identity=ses.Identity.email(config.email_sender))

        self.alarm_topic = sns.Topic(
            self, "AlarmTopic", display_name=f"Order platform alarms ({config.stage})", enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
        )
        # CloudWatch publishes alarms to an encrypted topic only if the key lets it.
        self.alarm_topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudWatchAlarms", principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"], resources=[self.alarm_topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": self.account}},
        ))
        _pin(self.alarm_topic, "AlarmTopic")
        rules_of_this_bus = f"arn:{self.partition}:events:{self.region}:{self.account}:rule/{self.bus.event_bus_name}/*"
        self.dead_letter_queues: dict[str, DeadLetterQueue] = {}
        for owner in [PUBLISHER, SAGA_SWEEP, ANALYTICS_FOLD, *(c.name for c in consumers)]:
            dlq = DeadLetterQueue(self, f"{owner}DeadLetters", config=config, owner=owner,
                                  alarm_topic=self.alarm_topic, rule_source_arn=rules_of_this_bus)
            _pin(dlq.queue, f"{owner}DeadLetterQueue")
            self.dead_letter_queues[owner] = dlq

        self._outputs()

    def _schema_registry(self) -> None:
        """Every event type's current JSON Schema (the files in schemas/), for code generation
        and discovery (EventBridge Schema Registry)."""
        from catalog import CATALOG
        from catalog.schemas import schema_of

        self.schema_registry = eventschemas.CfnRegistry(
            self, "SchemaRegistry", registry_name=f"order-platform-{self.config.stage}",
            description="The order platform's events, one schema per event type",
        )
        for event_type, spec in CATALOG.items():
            eventschemas.CfnSchema(
                self, f"{event_type.value.title().replace('_', '')}Schema",
                registry_name=self.schema_registry.attr_registry_name,
                schema_name=f"{spec.source.value}@{event_type.value}",
                type="JSONSchemaDraft4",
                content=json.dumps(schema_of(event_type), separators=(",", ":")),
                description=f"{spec.description} (v{spec.version})",
            )

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
        if not self.config.point_in_time_recovery:
            compliance.excuse(table, compliance.DISPOSABLE_DEV_TABLE)
        return table

    def _only_this_account_may_publish(self) -> None:
        """The bus policy: PutEvents for this account's principals, nobody else's."""
        bus_arn = f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/{bus_name(self.config.stage)}"
        policy = iam.PolicyDocument(statements=[iam.PolicyStatement(
            sid="OnlyThisAccountPublishes", principals=[iam.AccountRootPrincipal()],
            actions=["events:PutEvents"], resources=[bus_arn],
        )])
        self.bus.node.default_child.add_property_override("Policy", policy.to_json())  # type: ignore[union-attr]

    def _outputs(self) -> None:
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name)
        CfnOutput(self, "EventBusArn", value=self.bus.event_bus_arn)
        CfnOutput(self, "EventArchiveName", value=self.archive.archive_name)
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        tables = {
            "EventStore": self.event_store, "Orders": self.orders_table, "Inventory": self.inventory_table,
            "EmailLog": self.email_log_table, "Analytics": self.analytics_table, "Audit": self.audit_table,
            "AnalyticsEvents": self.analytics_events_table,
            "Idempotency": self.idempotency_table, "UserEmails": self.user_emails_table,
        }
        for name, table in tables.items():
            CfnOutput(self, f"{name}TableName", value=table.table_name)
        for owner, dlq in self.dead_letter_queues.items():
            CfnOutput(self, f"{owner}DeadLetterQueueUrl", value=dlq.queue.queue_url)


def _pin(construct: Construct, logical_id: str) -> None:
    """Give a stateful resource a fixed logical id: renaming it would replace (and empty) it."""
    construct.node.default_child.override_logical_id(logical_id)  # type: ignore[union-attr]
