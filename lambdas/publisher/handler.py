"""Lambda: the event store's DynamoDB stream (the outbox) onto the EventBridge bus."""

from __future__ import annotations

from functools import cache

from common.observability import logger, tracer
from common.settings import setting
from publisher.outbox import OutboxPublisher


@cache
def publisher() -> OutboxPublisher:
    return OutboxPublisher(setting("EVENT_BUS_NAME"))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    report = publisher().publish(event.get("Records", []))
    logger.info(
        "outbox batch published",
        extra={"published": report.published, "failed": len(report.failed), "ignored": report.ignored},
    )
    return {"batchItemFailures": report.batch_item_failures}
