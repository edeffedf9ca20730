"""Lambda: ORDER_* events from the bus into the orders read model."""

from __future__ import annotations

from functools import cache

from catalog import parse_event
from common.observability import logger, tracer
from common.settings import setting
from eventstore.store import EventStore
from projection.projector import OrderProjector
from projection.read_model import OrdersReadModel


@cache
def projector() -> OrderProjector:
    return OrderProjector(
        OrdersReadModel(setting("ORDERS_TABLE_NAME")),
        EventStore(setting("EVENT_STORE_TABLE_NAME")),
    )


@logger.inject_lambda_context(correlation_id_path="detail.metadata.correlationId")
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    envelope = parse_event(event["detail"])
    outcome = projector().apply(envelope)
    logger.info(
        "order projected",
        extra={"eventId": str(envelope.eventId), "eventType": envelope.eventType, "orderId": envelope.aggregateId,
               "version": envelope.version, "outcome": outcome.value},
    )
    return {"orderId": envelope.aggregateId, "version": envelope.version, "outcome": outcome.value}
