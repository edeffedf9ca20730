"""What every bus consumer shares: parse the envelope, log under its correlation id, and do
the work at most once per eventId (Powertools idempotency on DynamoDB).

EventBridge delivers at least once, and Lambda retries failed invocations: the idempotency
record makes a repeat delivery return the first result instead of repeating the effect. A
failed attempt leaves no record, so its retry runs again.

    consumer = EventConsumer(process)   # process(envelope) -> dict, the per-event work
    handler = consumer.handler          # the Lambda entry point

A consumer whose effect is itself a DynamoDB write conditional on the event (the read model's
version, the audit entry's key, the analytics marker, the saga's version, the reservation's
own stream) is exactly-once by that condition: it says so with `EventConsumer(process,
record=False)` and pays for no second record (two more writes an event, the update billed at
the whole record's size). Powertools' record stays where the effect is outside DynamoDB: an
email, a charge at a payment provider.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any, Callable

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from catalog import CATALOG, Envelope, EventType, parse_event
from common import faults
from common.observability import log_context, logger, metrics, tracer
from common.settings import setting

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600  # longer than any EventBridge or Lambda retry window

Process = Callable[[Envelope], dict[str, Any]]


class Misrouted(ValueError):
    """The bus entry's source or detail-type contradicts the event inside it."""


class EventConsumer:
    def __init__(self, process: Process, *, record: bool = True, publishes_metrics: bool = False):
        self._process = process
        self._record = record
        self._publishes_metrics = publishes_metrics  # custom metrics (EMF), flushed after each event

    @cached_property
    def _config(self) -> IdempotencyConfig:
        return IdempotencyConfig(event_key_jmespath="eventId", expires_after_seconds=IDEMPOTENCY_TTL_SECONDS)

    @cached_property
    def _once(self) -> Callable[..., dict[str, Any]]:
        persistence = DynamoDBPersistenceLayer(table_name=setting("IDEMPOTENCY_TABLE_NAME"))

        def run(detail: dict[str, Any], envelope: Envelope, fault: str | None) -> dict[str, Any]:
            # `detail` is what the idempotency key is taken from; the work uses the parsed envelope
            result = self._process(envelope)
            faults.fail_at(fault, faults.AFTER)  # effects done, not yet recorded as done
            return result

        # The key prefix keeps each consumer's records apart in the shared table.
        return idempotent_function(
            run,
            data_keyword_argument="detail",
            config=self._config,
            persistence_store=persistence,
            key_prefix=os.environ.get("POWERTOOLS_SERVICE_NAME", self._process.__module__),
        )

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail = event["detail"]
        envelope = parse_event(detail)  # a malformed event fails here, before any record is taken
        _check_routing(event, envelope)
        faults.fail_for_type(envelope.eventType)
        fault = faults.random_failure_point()
        faults.fail_at(fault, faults.BEFORE)
        if self._record:
            self._config.register_lambda_context(context)
            result = self._once(detail=detail, envelope=envelope, fault=fault)
        else:  # the effect's own condition refuses a second delivery
            result = self._process(envelope)
            faults.fail_at(fault, faults.AFTER)
        # Lambda's own Invocations and Errors count the events; a custom metric per event would
        # only add an EMF record to every invocation's logs.
        logger.info(
            "event consumed",
            extra={"eventId": str(envelope.eventId), "eventType": envelope.eventType,
                   "aggregateId": envelope.aggregateId, "result": result},
        )
        return result

    @property
    def handler(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        @tracer.capture_lambda_handler
        def traced(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return self.handle(event, context)

        # Decorators outermost first: logger (with the correlation id), metrics, tracer.
        inner = metrics.log_metrics(traced) if self._publishes_metrics else traced
        lambda_handler = log_context(inner, correlation_id_path="detail.metadata.correlationId")
        lambda_handler.consumer = self  # type: ignore[attr-defined]
        return lambda_handler


def _check_routing(event: dict[str, Any], envelope: Envelope) -> None:
    """The rules route by the entry's source and detail-type; the work trusts the detail. A
    producer that sets one and writes another is refused, so neither can be spoofed."""
    detail_type, source = event.get("detail-type"), event.get("source")
    if detail_type is not None and detail_type != envelope.eventType:
        raise Misrouted(f"detail-type {detail_type!r} does not match the event's eventType {envelope.eventType!r}")
    publisher = CATALOG[EventType(envelope.eventType)].source.value
    if source is not None and source != publisher:
        raise Misrouted(f"source {source!r} does not publish {envelope.eventType}: {publisher!r} does")
