"""Applies an order's events, and its payment's answers, to the read model: exactly once per
version of each stream, in version order.

An event at or below the stored version of its stream (the order's, or the payment's,
`payment:<orderId>`) is a duplicate or a late arrival: nothing changes. An event that skips
versions (the bus does not keep order) is preceded by the missing ones, read from the event
store, so the read model never holds a state the order or its payment never had. A payment's
answer that arrives before its order was projected projects the order first, from the store.
"""

from __future__ import annotations

from enum import StrEnum

from catalog import Envelope
from eventstore.answers import PAYMENTS
from eventstore.store import EventStore
from orders.read_model import OrdersReadModel, OrderView, StaleWrite

MAX_WRITE_ATTEMPTS = 5
PAYMENT_STREAM = PAYMENTS.stream("")  # `payment:`: a payment's answers, about the order named after it


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
        paying = event.aggregateId.startswith(PAYMENT_STREAM)
        order_id = event.aggregateId.removeprefix(PAYMENT_STREAM) if paying else event.aggregateId
        for _ in range(MAX_WRITE_ATTEMPTS):
            current = self._read_model.get(order_id, consistent=True)
            applied = (current.payment.version if paying else current.order.version) if current else 0
            if event.version <= applied:
                return Outcome.ALREADY_APPLIED
            history = [*self._missing_before(event, applied), event]
            if paying:
                view = (current or self._order_from_the_store(order_id)).paid(history)
            else:
                view = OrderView.folded(history, onto=current)
            try:
                self._read_model.save(view, previous=current)
            except StaleWrite:
                continue  # another delivery moved the order or its payment on; look again
            return Outcome.APPLIED if len(history) == 1 and (current or not paying) else Outcome.CAUGHT_UP
        raise StaleWrite(f"order {order_id} kept changing during {MAX_WRITE_ATTEMPTS} attempts")

    def _order_from_the_store(self, order_id: str) -> OrderView:
        history = self._store.load(order_id)
        if not history:
            raise MissingHistory(f"the payment of order {order_id} arrived before the order is in the event store")
        return OrderView.folded(history)

    def _missing_before(self, event: Envelope, current_version: int) -> list[Envelope]:
        wanted = event.version - current_version - 1
        if wanted == 0:
            return []
        found = self._store.load(event.aggregateId, after_version=current_version, up_to_version=event.version - 1)
        if len(found) != wanted:
            raise MissingHistory(
                f"{event.aggregateId} v{event.version} arrived before v{current_version + 1}"
                f"..v{event.version - 1}, and the event store has {len(found)} of those {wanted} events"
            )
        return found
