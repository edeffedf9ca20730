"""An event consumer: a function, the rule that routes its event types to it, and every
safety net asynchronous delivery needs.

EventBridge counts a Lambda target as delivered once Lambda accepts the async invoke, so
function errors never reach the rule's DLQ. Both hops are covered:
  bus -> rule target: RetryPolicy + SQS dead-letter queue (throttling, missing permission)
  async invoke -> function: MaximumRetryAttempts + on-failure destination (function errors)
Both land in the consumer's one dead-letter queue, which the redrive tool reads.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from catalog import CATALOG, EventType, Source
from infra.config import StageConfig
from infra.constructs.platform_function import PlatformFunction


def event_pattern(event_types: Iterable[EventType], *, catch_all: bool = False) -> events.EventPattern:
    """Match exactly these event types, each from the service the catalog says publishes it;
    catch_all: everything the platform's services publish, types the catalog does not know
    included (the consumer parks those with the reason instead of the bus dropping them)."""
    if catch_all:
        return events.EventPattern(source=sorted(s.value for s in Source))
    types = list(event_types)
    sources = sorted({CATALOG[t].source.value for t in types})
    return events.EventPattern(source=sources, detail_type=[t.value for t in types])


class EventConsumer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        bus: events.IEventBus,
        event_types: Iterable[EventType],
        handler: str,
        description: str,
        dead_letter_queue: sqs.IQueue,
        layer: lambda_.ILayerVersion,
        catch_all: bool = False,
        environment: Mapping[str, str] | None = None,
        **function_props,
    ) -> None:
        super().__init__(scope, construct_id)
        event_types = tuple(event_types)
        self.dead_letter_queue = dead_letter_queue
        self.handler = PlatformFunction(
            self,
            "Handler",
            config=config,
            handler=handler,
            service=construct_id,
            description=description,
            layer=layer,
            environment=environment,
            retry_attempts=config.lambda_retry_attempts,
            reserved_concurrent_executions=config.reserved_concurrency(construct_id),
            max_event_age=config.lambda_max_event_age,
            on_failure=destinations.SqsDestination(dead_letter_queue),
            **function_props,
        )
        self.function = self.handler.function
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description=("every platform event" if catch_all else ", ".join(t.value for t in event_types))
            + f" -> {construct_id}",
            event_pattern=event_pattern(event_types, catch_all=catch_all),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=config.rule_retry_attempts,
                    max_event_age=config.rule_max_event_age,
                )
            ],
        )
