"""Applies ORDER_* events to the read model: exactly once per version, in version order.

An event at or below the stored version is a duplicate or a late arrival: nothing changes.
An event that skips versions (the bus does not keep order) is preceded by the missing ones,
read from the event store, so the read model never holds a state the order never had.
"""

from __future__ import annotations

from enum import StrEnum

from catalog import Envelope
from eventstore.store import EventStore
from orders.read_model import OrdersReadModel, OrderView, StaleWrite

MAX_WRITE_ATTEMPTS = 5


class Outcome(StrEnum):
    APPLIED = "applied"
    CAUGHT_UP = "caught-up"  # applied together with earlier versions read from the store
    ALREADY_APPLIED = "already-applied"


class MissingHistory(Exception):
    """Earlier versions are not in the event store (yet): fail, so the event is retried."""


class OrderProjector:
    def __init__(self, read_model: OrdersReadModel, store: EventStore):
        self._read_model = read_model
        self._store = store

    def apply(self, event: Envelope) -> Outcome:
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self._read_model.get(event.aggregateId, consistent=True)
            current_version = current.order.version if current else 0
            if event.version <= current_version:
                return Outcome.ALREADY_APPLIED
            history = [*self._missing_before(event, current_version), event]
            try:
                self._read_model.save(
                    OrderView.folded(history, onto=current), previous_version=current.order.version if current else None
                )
            except StaleWrite:
                continue  # another delivery moved the order on; look again
            return Outcome.APPLIED if len(history) == 1 else Outcome.CAUGHT_UP
        raise StaleWrite(f"order {event.aggregateId} kept changing during {MAX_WRITE_ATTEMPTS} attempts")

    def _missing_before(self, event: Envelope, current_version: int) -> list[Envelope]:
        wanted = event.version - current_version - 1
        if wanted == 0:
            return []
        found = self._store.load(event.aggregateId, after_version=current_version, up_to_version=event.version - 1)
        if len(found) != wanted:
            raise MissingHistory(
                f"order {event.aggregateId} v{event.version} arrived before v{current_version + 1}"
                f"..v{event.version - 1}, and the event store has {len(found)} of those {wanted} events"
            )
        return found
