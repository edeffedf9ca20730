"""Lambda: the event store's DynamoDB stream (the outbox) onto the EventBridge bus."""

import json
from functools import cache

from common import clients
from common.observability import log_context, logger
from common.settings import BusName, DeadLetterQueueUrl, FunctionSettings
from common.tracing import traced_handler
from publisher.outbox import OutboxPublisher, PendingEntry


class Settings(FunctionSettings):
    event_bus_name: BusName
    dead_letter_queue_url: DeadLetterQueueUrl


@cache
def publisher() -> OutboxPublisher:
    return OutboxPublisher(Settings.current().event_bus_name)


@log_context
@traced_handler
def handler(event: dict, context) -> dict:
    report = publisher().publish(event.get("Records", []))
    park(report.refused)
    # Every event published is logged by each consumer that handles it, and each failed or
    # refused record at ERROR: a clean batch's summary is DEBUG (prod does not pay for it).
    clean = not (report.failed or report.refused)
    (logger.debug if clean else logger.warning)(
        "outbox batch published",
        extra={
            "published": report.published,
            "failed": len(report.failed),
            "refused": len(report.refused),
            "ignored": report.ignored,
        },
    )
    return {"batchItemFailures": report.batch_item_failures}


@cache
def _sqs():
    return clients.client("sqs")


def park(refused: list[PendingEntry]) -> None:
    """Refused records to the dead-letter queue, each with its reason (SendMessage raises on
    failure, so the batch is retried rather than a record dropped)."""
    for entry in refused:
        logger.error("stream record refused", extra={"sequenceNumber": entry.sequence_number, "reason": entry.error})
        _sqs().send_message(
            QueueUrl=Settings.current().dead_letter_queue_url,
            MessageBody=json.dumps({"refusedRecord": _where(entry), "reason": entry.error}),
            MessageAttributes={"reason": {"DataType": "String", "StringValue": entry.error[:256]}},
        )


def _where(entry: PendingEntry) -> dict:
    """Where the record is, not the record: a refused item may be larger than a message."""
    record = entry.record
    return {
        "eventSourceARN": record.get("eventSourceARN"),
        "sequenceNumber": entry.sequence_number,
        "keys": record.get("dynamodb", {}).get("Keys", {}),
    }
