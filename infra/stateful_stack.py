"""Everything that holds data: the event store, read models and service tables, the bus and its
archive, the dead-letter queues and the topic their alarms notify. Kept apart from code so a
redeploy of functions can never replace them."""

from __future__ import annotations

import json
from collections.abc import Iterable

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_eventschemas as eventschemas
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from constructs import Construct

from catalog import Source
from infra import compliance
from infra.config import StageConfig
from infra.constructs.customer_pool import CustomerPool
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.consumers import SCHEDULES, STREAM_READERS, ConsumerSpec
from infra.names import bus_name
from infra.tables import EVENT_STORE, TABLES, Attribute, TableSpec


def _attribute(attribute: Attribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(
        name=attribute.name,
        type=dynamodb.AttributeType.NUMBER if attribute.type == "N" else dynamodb.AttributeType.STRING,
    )


class StatefulStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, consumers: Iterable[ConsumerSpec], **kwargs
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=config.termination_protection, **kwargs)
        self.config = config

        # Every table of infra/tables.py, by its key.
        self.tables = {key: self._table(spec) for key, spec in TABLES.items()}

        self.bus = events.EventBus(
            self,
            "EventBus",
            event_bus_name=bus_name(config.stage),
            description=f"Order platform events ({config.stage})",
        )
        _pin(self.bus, "EventBus")
        self.customers = CustomerPool(self, "Customers", config=config)
        _pin(self.customers.pool, "CustomerPool")
        # The outbox's role lives with the bus it speaks on, so that the bus's policy can name it.
        self.publisher_role = iam.Role(
            self,
            "PublisherRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="The outbox publisher: the only principal that puts the platform's events on the bus",
        )
        self.operator_role = self._operators() if config.operators_may_publish else None
        self._only_the_outbox_speaks_for_the_services()
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

        self.sender_identity = ses.EmailIdentity(
            self, "SenderIdentity", identity=ses.Identity.email(config.email_sender)
        )

        self.alarm_topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Order platform alarms ({config.stage})",
            enforce_ssl=True,
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
        )
        # CloudWatch publishes alarms to an encrypted topic only if the key lets it.
        self.alarm_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.alarm_topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        _pin(self.alarm_topic, "AlarmTopic")
        rules_of_this_bus = f"arn:{self.partition}:events:{self.region}:{self.account}:rule/{self.bus.event_bus_name}/*"
        self.dead_letter_queues: dict[str, DeadLetterQueue] = {}
        for owner in [*(spec.name for spec in (*STREAM_READERS, *SCHEDULES)), *(c.name for c in consumers)]:
            dlq = DeadLetterQueue(
                self,
                f"{owner}DeadLetters",
                config=config,
                owner=owner,
                alarm_topic=self.alarm_topic,
                rule_source_arn=rules_of_this_bus,
            )
            _pin(dlq.queue, f"{owner}DeadLetterQueue")
            self.dead_letter_queues[owner] = dlq

        self._outputs()

    def _schema_registry(self) -> None:
        """Every event type's current JSON Schema (the files in schemas/), for code generation
        and discovery (EventBridge Schema Registry)."""
        from catalog import CATALOG
        from catalog.schemas import schema_of

        self.schema_registry = eventschemas.CfnRegistry(
            self,
            "SchemaRegistry",
            registry_name=f"order-platform-{self.config.stage}",
            description="The order platform's events, one schema per event type",
        )
        for event_type, spec in CATALOG.items():
            eventschemas.CfnSchema(
                self,
                f"{event_type.value.title().replace('_', '')}Schema",
                registry_name=self.schema_registry.attr_registry_name,
                schema_name=f"{spec.source.value}@{event_type.value}",
                type="JSONSchemaDraft4",
                content=json.dumps(schema_of(event_type), separators=(",", ":")),
                description=f"{spec.description} (v{spec.version})",
            )

    def _table(self, spec: TableSpec) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            spec.logical_id,
            partition_key=_attribute(spec.partition),
            sort_key=_attribute(spec.sort) if spec.sort else None,
            stream=dynamodb.StreamViewType.NEW_IMAGE if spec.stream else None,
            time_to_live_attribute=spec.time_to_live,
            # The source of truth is never deleted by a stack operation where data is kept.
            deletion_protection=self.config.retain_data if spec is EVENT_STORE else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=self.config.point_in_time_recovery
            ),
            removal_policy=self.config.removal_policy,
        )
        if spec.index:
            table.add_global_secondary_index(
                index_name=spec.index.name,
                partition_key=_attribute(spec.index.partition),
                projection_type=dynamodb.ProjectionType.KEYS_ONLY,
            )
        _pin(table, spec.logical_id)
        if not self.config.point_in_time_recovery:
            compliance.excuse(table, compliance.DISPOSABLE_DEV_TABLE)
        return table

    def _operators(self) -> iam.Role:
        """On a dev stage, a role the account's operators assume to put hand-made events on the bus
        (trying a consumer with the AWS CLI); prod has none."""
        role = iam.Role(
            self,
            "BusOperatorRole",
            assumed_by=iam.AccountRootPrincipal(),
            description="dev only: operators putting events on the bus by hand, for trying consumers",
        )
        self.bus.grant_put_events_to(role)
        return role

    def _only_the_outbox_speaks_for_the_services(self) -> None:
        """The bus policy. This account's principals may put events (nobody else's), but none of
        the platform's sources: those are the outbox publisher's alone (every service writes its
        events to the store, and the publisher puts them on the bus), and on dev the operators'
        role's. A Deny, so no identity policy in the account can grant it back."""
        bus_arn = f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/{bus_name(self.config.stage)}"
        speakers = [self.publisher_role.role_arn]
        if self.operator_role is not None:
            speakers.append(self.operator_role.role_arn)
        policy = iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="OnlyThisAccountPublishes",
                    principals=[iam.AccountRootPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[bus_arn],
                ),
                iam.PolicyStatement(
                    sid="OnlyTheOutboxSpeaksForTheServices",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[bus_arn],
                    conditions={
                        "StringEquals": {"events:source": sorted(source.value for source in Source)},
                        "ArnNotEquals": {"aws:PrincipalArn": speakers},
                    },
                ),
            ]
        )
        self.bus.node.default_child.add_property_override("Policy", policy.to_json())  # type: ignore[union-attr]

    def _outputs(self) -> None:
        CfnOutput(self, "EventBusName", value=self.bus.event_bus_name)
        CfnOutput(self, "EventBusArn", value=self.bus.event_bus_arn)
        CfnOutput(self, "EventArchiveName", value=self.archive.archive_name)
        CfnOutput(self, "AlarmTopicArn", value=self.alarm_topic.topic_arn)
        CfnOutput(self, "UserPoolId", value=self.customers.pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.customers.client.user_pool_client_id)
        if self.operator_role is not None:
            CfnOutput(self, "BusOperatorRoleArn", value=self.operator_role.role_arn)
        for key, table in self.tables.items():
            CfnOutput(self, TABLES[key].output, value=table.table_name)
        for owner, dlq in self.dead_letter_queues.items():
            CfnOutput(self, f"{owner}DeadLetterQueueUrl", value=dlq.queue.queue_url)


def _pin(construct: Construct, logical_id: str) -> None:
    """Give a stateful resource a fixed logical id: renaming it would replace (and empty) it."""
    construct.node.default_child.override_logical_id(logical_id)  # type: ignore[union-attr]
