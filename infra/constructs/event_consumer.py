"""An event consumer: a function, the rule that routes its event types to it, and every
safety net asynchronous delivery needs.

EventBridge counts a Lambda target as delivered once Lambda accepts the async invoke, so
function errors never reach the rule's DLQ. Both hops are covered:
  bus -> rule target: RetryPolicy + SQS dead-letter queue (throttling, missing permission)
  async invoke -> function: MaximumRetryAttempts + on-failure destination (function errors)
Both land in the consumer's one dead-letter queue, which the redrive tool reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.platform_function import PlatformFunction
from infra.consumers import ConsumerSpec


def event_pattern(spec: ConsumerSpec) -> events.EventPattern:
    """The consumer's rule (infra/consumers.py says what it matches): exactly its event types,
    each from the service the catalog says publishes it; for a catch-all consumer, everything
    the platform's services publish, types the catalog does not know included (it parks those
    with the reason instead of the bus dropping them)."""
    return events.EventPattern(source=spec.sources, detail_type=spec.detail_types)


class EventConsumer(Construct):
    """The consumer an entry of infra/consumers.py declares (its id is the spec's name)."""

    def __init__(
        self,
        scope: Construct,
        spec: ConsumerSpec,
        *,
        config: StageConfig,
        bus: events.IEventBus,
        dead_letter_queue: sqs.IQueue,
        layer: lambda_.ILayerVersion,
        environment: Mapping[str, str] | None = None,
        **function_props,
    ) -> None:
        super().__init__(scope, spec.name)
        construct_id = spec.name
        self.dead_letter_queue = dead_letter_queue
        self.handler = PlatformFunction(
            self,
            "Handler",
            config=config,
            handler=spec.handler,
            service=construct_id,
            description=spec.description,
            layer=layer,
            environment=environment,
            retry_attempts=config.lambda_retry_attempts,
            reserved_concurrent_executions=config.reserved_concurrency(spec),
            max_event_age=config.lambda_max_event_age,
            on_failure=destinations.SqsDestination(dead_letter_queue),
            **function_props,
        )
        self.function = self.handler.function
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description=("every platform event" if spec.catch_all else ", ".join(spec.detail_types or []))
            + f" -> {construct_id}",
            event_pattern=event_pattern(spec),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=config.rule_retry_attempts,
                    max_event_age=config.rule_max_event_age,
                )
            ],
        )
