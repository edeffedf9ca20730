"""Payments: the charge and the refund of an order, at a card network that deduplicates by key.

The card network is simulated, deterministic so every path can be driven on purpose: an
amount over the limit (the function's payment_limit setting, 1000.00) is declined ("amount
1200.00 exceeds the card limit of 1000.00"); any other amount is charged. Like a real provider's idempotency key
(Stripe's Idempotency-Key, Adyen's, Braintree's), a request repeated with the same key is
answered with the first answer and moves no money again: the charge's key is the order,
the refund's the payment.

An order's payment is its own stream of answers (eventstore/answers.py, `payment:<orderId>`):
the answer to a charge is version 1 (PAYMENT_PROCESSED or PAYMENT_FAILED), written only if
absent, so an order is answered once; a refund is version 2, written only if absent and only
after a PAYMENT_PROCESSED of the same payment. A repeated delivery asks the
network again with the same key (no second charge) and loses the stream's condition (no
second answer): exactly once with no idempotency record and no transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from catalog import Envelope, EventType
from catalog.payloads import PaymentFailed, PaymentProcessed, PaymentRefunded
from eventstore.answers import PAYMENTS, Answers
from eventstore.store import EventStore

KEYS = uuid.UUID("6f1d2a43-0c1e-4d39-9a59-3c1f2b8e5d70")  # namespace of the simulated network's ids


class Declined(Exception):
    """The network refused the charge; the reason is the customer's to read."""


class RefundExceedsCharge(ValueError):
    """A refund asked for more than the payment charged: a bug in its writer, never paid; it
    fails, so it is retried and then parked with this reason."""


@dataclass
class CardNetwork:
    """The simulated provider: one answer per idempotency key, whoever asks and however often."""

    limit: Decimal
    requests: list[str] = field(default_factory=list)  # the keys asked, in order: what a test inspects
    moved: dict[str, Decimal] = field(default_factory=dict)  # money moved, once per key

    def charge(self, key: str, amount: Decimal) -> str:
        """The payment id of the charge made under this key; Declined if the card refuses it."""
        self.requests.append(key)
        if amount > self.limit:
            raise Declined(f"amount {amount:.2f} exceeds the card limit of {self.limit:.2f}")
        self.moved.setdefault(key, amount)
        return f"pay-{uuid.uuid5(KEYS, key).hex[:20]}"

    def refund(self, key: str, amount: Decimal) -> None:
        self.requests.append(key)
        self.moved.setdefault(key, -amount)


class PaymentProvider:
    def __init__(self, store: EventStore, network: CardNetwork):
        self._answers = Answers(store, PAYMENTS)
        self.network = network

    def handle(self, event: Envelope) -> dict[str, Any]:
        if event.eventType == EventType.PAYMENT_REQUESTED:
            return self._charge(event)
        return self._refund(event)

    def _charge(self, request: Envelope) -> dict[str, Any]:
        order_id, amount = request.payload.orderId, request.payload.amount
        payload: PaymentFailed | PaymentProcessed
        try:
            payment_id = self.network.charge(f"charge:{order_id}", amount)
        except Declined as declined:
            outcome, payload = EventType.PAYMENT_FAILED, PaymentFailed(orderId=order_id, reason=str(declined))
        else:
            outcome = EventType.PAYMENT_PROCESSED
            payload = PaymentProcessed(orderId=order_id, paymentId=payment_id, amount=amount)
        if not self._answers.answer(outcome, order_id, payload, request):
            return {"orderId": order_id, "outcome": "already-answered"}
        return {"orderId": order_id, "outcome": outcome.value}

    def _refund(self, request: Envelope) -> dict[str, Any]:
        order_id, payment_id = request.payload.orderId, request.payload.paymentId
        charged = self._answers.answered(order_id)
        if not charged or charged.eventType != EventType.PAYMENT_PROCESSED or charged.payload.paymentId != payment_id:
            return {"orderId": order_id, "outcome": "nothing-to-refund"}
        if request.payload.amount > charged.payload.amount:
            raise RefundExceedsCharge(
                f"refund {request.eventId} asks {request.payload.amount:.2f}, more than payment "
                f"{payment_id} charged ({charged.payload.amount:.2f})"
            )
        self.network.refund(f"refund:{payment_id}", request.payload.amount)
        payload = PaymentRefunded(orderId=order_id, paymentId=payment_id, amount=request.payload.amount)
        if not self._answers.undo(EventType.PAYMENT_REFUNDED, order_id, payload, request):
            return {"orderId": order_id, "outcome": "nothing-to-refund"}  # refunded already
        return {"orderId": order_id, "outcome": EventType.PAYMENT_REFUNDED.value}
