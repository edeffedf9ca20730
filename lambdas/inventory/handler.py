"""Lambda: the saga's reservation and release requests against the stock."""

from __future__ import annotations

from functools import cache

from common.consumer import EventConsumer
from common.settings import setting
from eventstore.store import EventStore
from inventory.reservations import Reservations


@cache
def reservations() -> Reservations:
    return Reservations(EventStore(setting("EVENT_STORE_TABLE_NAME")), setting("INVENTORY_TABLE_NAME"))


# Exactly once by the reservation's own stream: each answer is a version written only if absent.
handler = EventConsumer(lambda event: reservations().handle(event)).handler
