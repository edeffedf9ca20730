"""A simulated payment provider, deterministic so every path can be driven on purpose:

    an amount over PAYMENT_LIMIT (default 1000.00) is declined: "amount 1200.00 exceeds the
    card limit of 1000.00"; any other amount is charged.

A charge and its event are written together (the payment record is the guard), once per
order; a refund turns a CHARGED record into REFUNDED, once.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from catalog import Envelope, EventType, new_event
from catalog.payloads import PaymentFailed, PaymentProcessed, PaymentRefunded
from eventstore.store import ConcurrencyError, EventStore, GuardFailed

USER = "payments"


class PaymentProvider:
    def __init__(self, store: EventStore, table_name: str, limit: Decimal = Decimal("1000.00")):
        self._store = store
        self._table = table_name
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
            record = {"status": "DECLINED"}
        else:
            outcome = EventType.PAYMENT_PROCESSED
            payment_id = f"pay-{uuid.uuid4().hex[:20]}"
            payload = PaymentProcessed(orderId=order_id, paymentId=payment_id, amount=amount)
            record = {"status": "CHARGED", "paymentId": payment_id}
        guard = self._record(order_id, {**record, "amount": f"{amount:.2f}"}, condition="attribute_not_exists(orderId)")
        try:
            self._store.append([self._event(outcome, order_id, payload, 1, request)], guards=[guard])
        except (GuardFailed, ConcurrencyError):
            return {"orderId": order_id, "outcome": "already-answered"}
        return {"orderId": order_id, "outcome": outcome.value}

    def _refund(self, request: Envelope) -> dict[str, Any]:
        order_id = request.payload.orderId
        payload = PaymentRefunded(orderId=order_id, paymentId=request.payload.paymentId, amount=request.payload.amount)
        guard = self._record(order_id, {"status": "REFUNDED", "paymentId": request.payload.paymentId,
                                        "amount": f"{request.payload.amount:.2f}", "refundReason": request.payload.reason},
                             condition="#status = :charged AND paymentId = :payment",
                             values={":charged": {"S": "CHARGED"}, ":payment": {"S": request.payload.paymentId}})
        try:
            self._store.append([self._event(EventType.PAYMENT_REFUNDED, order_id, payload, 2, request)], guards=[guard])
        except (GuardFailed, ConcurrencyError):
            return {"orderId": order_id, "outcome": "nothing-to-refund"}
        return {"orderId": order_id, "outcome": EventType.PAYMENT_REFUNDED.value}

    def _record(self, order_id: str, fields: dict[str, str], *, condition: str, values: dict | None = None) -> dict:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {"orderId": {"S": order_id}, **{k: {"S": v} for k, v in fields.items()}},
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = values
            put["ExpressionAttributeNames"] = {"#status": "status"}
        return {"Put": put}

    @staticmethod
    def _event(event_type: EventType, order_id: str, payload, version: int, cause: Envelope) -> Envelope:
        return new_event(event_type, aggregate_id=f"payment:{order_id}", payload=payload, version=version, user_id=USER,
                         correlation_id=cause.metadata.correlationId, causation_id=str(cause.eventId))
