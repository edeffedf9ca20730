"""A service's answers about one order, kept as a stream of its own in the event store.

The payment provider and the inventory reservations both answer the saga's requests this way
(`payment:<orderId>`, `reservation:<orderId>`): the answer is version 1, written only if
absent, so an order is answered once however often it is asked; its undoing (a refund, a
release) is version 2, once, and only after the answer it undoes. The stream is the record:
no idempotency record beside it. Each event is caused by the request it answers, in the
request's conversation.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catalog import Envelope, EventType, new_event
from eventstore.store import ConcurrencyError, EventStore

ANSWER, UNDO = 1, 2  # the versions


@dataclass(frozen=True)
class AnswerStreams:
    prefix: str
    user: str  # who the events say wrote them

    def stream(self, order_id: str) -> str:
        return f"{self.prefix}:{order_id}"


PAYMENTS = AnswerStreams("payment", user="payments")
RESERVATIONS = AnswerStreams("reservation", user="inventory")


class Answers:
    def __init__(self, store: EventStore, streams: AnswerStreams):
        self._store = store
        self.streams = streams

    def answer(
        self, event_type: EventType, order_id: str, payload: Any, request: Envelope, guards: Iterable[dict] = ()
    ) -> bool:
        """Answer the order, with the guards' writes in the same transaction (GuardFailed if one
        fails); False if it was answered already."""
        return self._write(event_type, order_id, payload, ANSWER, request, guards)

    def undo(
        self, event_type: EventType, order_id: str, payload: Any, request: Envelope, guards: Iterable[dict] = ()
    ) -> bool:
        """Undo the answer, with the guards' writes; False if it was undone already."""
        return self._write(event_type, order_id, payload, UNDO, request, guards)

    def answered(self, order_id: str) -> Envelope | None:
        """The order's answer, read strongly consistent; None if it has none yet."""
        found = self._store.load(self.streams.stream(order_id), up_to_version=ANSWER)
        return found[0] if found else None

    def undone(self, order_id: str) -> Envelope | None:
        """The undoing of the order's answer, read strongly consistent; None if it has none yet."""
        found = self._store.load(self.streams.stream(order_id), after_version=ANSWER, up_to_version=UNDO)
        return found[0] if found else None

    def _write(
        self,
        event_type: EventType,
        order_id: str,
        payload: Any,
        version: int,
        request: Envelope,
        guards: Iterable[dict],
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
            self._store.append([event], guards=list(guards))
        except ConcurrencyError:
            return False
        return True
