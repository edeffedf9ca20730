"""Lambda: the saga's events (orders, payments, inventory) into its state machine."""

from __future__ import annotations

from functools import cache

from common.consumer import EventConsumer
from common.settings import setting
from eventstore.store import EventStore
from saga.coordinator import SagaCoordinator, SagaRepository


@cache
def coordinator() -> SagaCoordinator:
    return SagaCoordinator(SagaRepository(setting("SAGA_TABLE_NAME")), EventStore(setting("EVENT_STORE_TABLE_NAME")))


# Exactly once by the saga's version condition and the handled events it keeps.
handler = EventConsumer(lambda event: coordinator().handle(event)).handler
