"""Lambda: ORDER_* events from the bus into the orders read model."""

from __future__ import annotations

from functools import cache

from catalog import Envelope
from common.consumer import EventConsumer
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


def project(event: Envelope) -> dict:
    outcome = projector().apply(event)
    return {"orderId": event.aggregateId, "version": event.version, "outcome": outcome.value}


# Exactly once by the read model's version condition.
handler = EventConsumer(project).handler
