"""A simulated payment provider, deterministic so every path can be driven on purpose:

    an amount over PAYMENT_LIMIT (default 1000.00) is declined: "amount 1200.00 exceeds the
    card limit of 1000.00"; any other amount is charged.

An order's payment is its own stream in the event store, `payment:<orderId>`, and the stream
is the record: the answer to a charge is version 1 (PAYMENT_PROCESSED or PAYMENT_FAILED),
written only if absent, so an order is answered once; a refund is version 2, written only if
absent and only after a PAYMENT_PROCESSED of the same payment. One conditional write each, no
record beside it and no transaction.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from catalog import Envelope, EventType, new_event
from catalog.payloads import PaymentFailed, PaymentProcessed, PaymentRefunded
from eventstore.store import ConcurrencyError, EventStore

USER = "payments"


class PaymentProvider:
    def __init__(self, store: EventStore, limit: Decimal = Decimal("1000.00")):
        self._store = store
        self._limit = limit

    def handle(self, event: Envelope) -> dict[str, Any]:
        if event.eventType == EventType.PAYMENT_REQUESTED:
            return self._charge(event)
        return self._refund(event)

    def _charge(self, request: Envelope) -> dict[str, Any]:
        order_id, amount = request.payload.orderId, request.payload.amount
        if amount > self._limit:
            outcome = EventType.PAYMENT_FAILED
            payload = PaymentFailed(orderId=order_id, reason=f"amount {amount:.2f} exceeds the card limit of {self._limit:.2f}")
        else:
            outcome = EventType.PAYMENT_PROCESSED
            payload = PaymentProcessed(orderId=order_id, paymentId=f"pay-{uuid.uuid4().hex[:20]}", amount=amount)
        try:
            self._store.append([self._event(outcome, order_id, payload, 1, request)])
        except ConcurrencyError:
            return {"orderId": order_id, "outcome": "already-answered"}
        return {"orderId": order_id, "outcome": outcome.value}

    def _refund(self, request: Envelope) -> dict[str, Any]:
        order_id, payment_id = request.payload.orderId, request.payload.paymentId
        charged = self._store.load(self.stream(order_id), up_to_version=1)
        if not charged or charged[0].eventType != EventType.PAYMENT_PROCESSED or charged[0].payload.paymentId != payment_id:
            return {"orderId": order_id, "outcome": "nothing-to-refund"}
        payload = PaymentRefunded(orderId=order_id, paymentId=payment_id, amount=request.payload.amount)
        try:
            self._store.append([self._event(EventType.PAYMENT_REFUNDED, order_id, payload, 2, request)])
        except ConcurrencyError:
            return {"orderId": order_id, "outcome": "nothing-to-refund"}  # refunded already
        return {"orderId": order_id, "outcome": EventType.PAYMENT_REFUNDED.value}

    @staticmethod
    def stream(order_id: str) -> str:
        return f"payment:{order_id}"

    @classmethod
    def _event(cls, event_type: EventType, order_id: str, payload, version: int, cause: Envelope) -> Envelope:
        return new_event(event_type, aggregate_id=cls.stream(order_id), payload=payload, version=version, user_id=USER,
                         correlation_id=cause.metadata.correlationId, causation_id=str(cause.eventId))
