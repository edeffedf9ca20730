"""Lambda: the saga's reservation and release requests against the stock."""

from functools import cache

from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadWriteTable
from eventstore.store import EventStore
from inventory.reservations import Reservations


class Settings(FunctionSettings):
    inventory_table_name: ReadWriteTable
    event_store_table_name: ReadWriteTable


@cache
def event_store() -> EventStore:
    return EventStore(Settings.current().event_store_table_name)


@cache
def reservations() -> Reservations:
    return Reservations(event_store(), Settings.current().inventory_table_name)


# Exactly once by the reservation's own stream: each answer is a version written only if absent.
# Only the saga's own requests, as the event store holds them, move stock.
handler = EventConsumer(lambda event: reservations().handle(event), held_by=event_store).handler
