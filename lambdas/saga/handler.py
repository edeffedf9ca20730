"""Lambda: the saga's events (orders, payments, inventory) wake the saga of their order."""

from functools import cache

from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadWriteTable
from eventstore.store import EventStore
from saga.coordinator import SagaCoordinator


class Settings(FunctionSettings):
    event_store_table_name: ReadWriteTable


@cache
def coordinator() -> SagaCoordinator:
    return SagaCoordinator(EventStore(Settings.current().event_store_table_name))


# Exactly once by the event store's condition on the saga's stream and the order's.
handler = EventConsumer(lambda event: coordinator().handle(event)).handler
