"""Lambda: an order's events, and its payment's answers, from the bus into the orders read model."""

from functools import cache

from catalog import Envelope
from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadTable, ReadWriteTable
from eventstore.store import EventStore
from orders.read_model import OrdersReadModel
from projection.projector import OrderProjector


class Settings(FunctionSettings):
    orders_table_name: ReadWriteTable
    event_store_table_name: ReadTable


@cache
def event_store() -> EventStore:
    return EventStore(Settings.current().event_store_table_name)


@cache
def projector() -> OrderProjector:
    return OrderProjector(OrdersReadModel(Settings.current().orders_table_name), event_store())


def project(event: Envelope) -> dict:
    outcome = projector().apply(event)
    return {"orderId": event.aggregateId, "version": event.version, "outcome": outcome.value}


# Exactly once by the read model's version condition. Only the order's events as the event store
# holds them change the read model.
handler = EventConsumer(project, held_by=event_store).handler
