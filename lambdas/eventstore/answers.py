"""A service's answers about one order, kept as a stream of its own in the event store.

The payment provider and the inventory reservations both answer the saga's requests this way
(`payment:<orderId>`, `reservation:<orderId>`): the answer is version 1, recorded only if
absent, so an order is answered once however often it is asked; its reversal (a refund, a
release, a shipment that ends a reservation) is version 2, once, and only after the answer it
reverses. The stream is the record: no idempotency record beside it. Each event is caused by
the request it answers, in the request's conversation.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catalog import Envelope, EventType, new_event
from eventstore.store import ConcurrencyError, EventStore

ANSWER_VERSION, REVERSAL_VERSION = 1, 2


@dataclass(frozen=True)
class AnswerStreams:
    prefix: str
    user: str  # who the events say wrote them

    def stream(self, order_id: str) -> str:
        return f"{self.prefix}:{order_id}"


PAYMENTS = AnswerStreams("payment", user="payments")
RESERVATIONS = AnswerStreams("reservation", user="inventory")


class OrderAnswers:
    """One service's answers about each order: `record` an answer, `reverse` it, read either."""

    def __init__(self, store: EventStore, streams: AnswerStreams):
        self._store = store
        self.streams = streams

    def record(
        self, event_type: EventType, order_id: str, payload: Any, request: Envelope, together_with: Iterable[dict] = ()
    ) -> bool:
        """Record the order's answer, with `together_with`'s writes in the same transaction
        (GuardFailed if one fails); False if the order was answered already."""
        return self._write(event_type, order_id, payload, ANSWER_VERSION, request, together_with)

    def reverse(
        self, event_type: EventType, order_id: str, payload: Any, request: Envelope, together_with: Iterable[dict] = ()
    ) -> bool:
        """Reverse the order's answer, with `together_with`'s writes; False if it was reversed already."""
        return self._write(event_type, order_id, payload, REVERSAL_VERSION, request, together_with)

    def answer_of(self, order_id: str) -> Envelope | None:
        """The order's answer, read strongly consistent; None if it has none yet."""
        found = self._store.load(self.streams.stream(order_id), up_to_version=ANSWER_VERSION)
        return found[0] if found else None

    def reversal_of(self, order_id: str) -> Envelope | None:
        """The reversal of the order's answer, read strongly consistent; None if it has none yet."""
        found = self._store.load(
            self.streams.stream(order_id), after_version=ANSWER_VERSION, up_to_version=REVERSAL_VERSION
        )
        return found[0] if found else None

    def _write(
        self,
        event_type: EventType,
        order_id: str,
        payload: Any,
        version: int,
        request: Envelope,
        together_with: Iterable[dict],
    ) -> bool:
        event = new_event(
            event_type,
            aggregate_id=self.streams.stream(order_id),
            payload=payload,
            version=version,
            user_id=self.streams.user,
            correlation_id=request.metadata.correlationId,
            causation_id=str(request.eventId),
        )
        try:
            self._store.append([event], together_with=list(together_with))
        except ConcurrencyError:
            return False
        return True
