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
def reservations() -> Reservations:
    settings = Settings.current()
    return Reservations(EventStore(settings.event_store_table_name), settings.inventory_table_name)


# Exactly once by the reservation's own stream: each answer is a version written only if absent.
handler = EventConsumer(lambda event: reservations().handle(event)).handler
