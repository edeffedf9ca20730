"""Lambda: the saga's events (orders, payments, inventory) wake the saga of their order."""

from __future__ import annotations

from functools import cache

from common.consumer import EventConsumer
from common.settings import setting
from eventstore.store import EventStore
from saga.coordinator import SagaCoordinator


@cache
def coordinator() -> SagaCoordinator:
    return SagaCoordinator(EventStore(setting("EVENT_STORE_TABLE_NAME")))


# Exactly once by the event store's condition on the saga's stream and the order's.
handler = EventConsumer(lambda event: coordinator().handle(event)).handler
