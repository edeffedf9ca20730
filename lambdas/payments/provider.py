"""Payments: the charge and the refund of an order, at a card network that deduplicates by key,
reached at most once per request, however often the request is delivered, redriven or replayed.

The card network is simulated, deterministic so every path can be driven on purpose: an
amount over the limit (the function's payment_limit setting, 1000.00) is declined ("amount
1200.00 exceeds the card limit of 1000.00"); any other amount is charged. Like a real provider's
idempotency key (Stripe's Idempotency-Key, Adyen's, Braintree's), a request repeated with the
same key is answered with the first answer and moves no money again, but only for a while:
Stripe forgets a key after 24 hours, and so does this network (its key_seconds setting). The
charge's key is the order, the refund's the payment.

An order's payment is its own stream of answers (eventstore/answers.py, `payment:<orderId>`):
the answer to a charge is version 1 (PAYMENT_PROCESSED or PAYMENT_FAILED), written only if
absent; a refund is version 2, written only if absent and only after a PAYMENT_PROCESSED of the
same payment. The network is called only for a request not answered yet, and only after its
call is recorded (the payment calls table, `<key>`: which request, when). So:

    answered already                   -> no call (a replay a year later too)
    not answered, never called         -> record the call, call, answer
    not answered, called within 24 h   -> call again with the same key: the network answers as
                                          before (the run died between its call and its answer)
    not answered, called longer ago    -> no call: the network may have forgotten the key, and
                                          a call could charge twice. Fails (CallNotAnswered),
                                          so it is parked with the reason, for a person to
                                          reconcile with the network
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from catalog import Envelope, EventType
from catalog.payloads import PaymentFailed, PaymentProcessed, PaymentRefunded
from common import clients
from common.observability import logger
from eventstore.answers import PAYMENTS, Answers
from eventstore.store import EventStore

KEYS = uuid.UUID("6f1d2a43-0c1e-4d39-9a59-3c1f2b8e5d70")  # namespace of the simulated network's ids
# How long the network remembers a key: Stripe's 24 hours.
KEY_SECONDS = 24 * 3600
# A call older than this is not repeated: the network's window less a margin for clocks and a
# call in flight.
REPEAT_MARGIN = timedelta(hours=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Declined(Exception):
    """The network refused the charge; the reason is the customer's to read."""


class RefundExceedsCharge(ValueError):
    """A refund asked for more than the payment charged: a bug in its writer, never paid; it
    fails, so it is retried and then parked with this reason."""


class CallNotAnswered(RuntimeError):
    """The network was called for this request and no answer was recorded, longer ago than it
    remembers keys: calling again could move the money twice."""


@dataclass
class CardNetwork:
    """The simulated provider: one answer per idempotency key for as long as it remembers it,
    whoever asks and however often; after that, the key is new to it."""

    limit: Decimal
    key_seconds: int = KEY_SECONDS
    clock: Any = utc_now
    requests: list[str] = field(default_factory=list)  # the keys asked, in order: what a test inspects
    moved: dict[str, Decimal] = field(default_factory=dict)  # money moved, by key (`key#2`: moved again)
    _remembered: dict[str, tuple[datetime, str, bool]] = field(default_factory=dict)  # key: when, answer, declined

    def charge(self, key: str, amount: Decimal) -> str:
        """The payment id of the charge made under this key; Declined if the card refuses it."""
        remembered = self._recall(key)
        if remembered is None:
            declined = amount > self.limit
            if declined:
                answer = f"amount {amount:.2f} exceeds the card limit of {self.limit:.2f}"
            else:
                answer = f"pay-{uuid.uuid5(KEYS, key).hex[:20]}"
                self._move(key, amount)
            remembered = self._remember(key, answer, declined)
        answer, declined = remembered
        if declined:
            raise Declined(answer)
        return answer

    def refund(self, key: str, amount: Decimal) -> None:
        if self._recall(key) is None:
            self._move(key, -amount)
            self._remember(key, "refunded", False)

    def _recall(self, key: str) -> tuple[str, bool] | None:
        """The answer given under this key, while it is remembered."""
        self.requests.append(key)
        logger.info("card network called", extra={"key": key})  # one line a call: the calls are counted by it
        remembered = self._remembered.get(key)
        if remembered is None or self.clock() - remembered[0] > timedelta(seconds=self.key_seconds):
            return None
        return remembered[1], remembered[2]

    def _move(self, key: str, amount: Decimal) -> None:
        again = sum(1 for moved in self.moved if moved.split("#")[0] == key)
        self.moved[f"{key}#{again + 1}" if again else key] = amount

    def _remember(self, key: str, answer: str, declined: bool) -> tuple[str, bool]:
        self._remembered[key] = (self.clock(), answer, declined)
        return answer, declined


class PaymentCalls:
    """Each call to the network, recorded before it is made: its key, the request it serves and
    when. Written once a key; read when a request comes back unanswered."""

    def __init__(self, table_name: str, *, client=None):
        self._table = table_name
        self._client = client or clients.client("dynamodb")

    def record(self, key: str, request: Envelope, now: datetime) -> datetime:
        """When the network was first called with this key: now, if this is the first call."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "key": {"S": key},
                    "requestEventId": {"S": str(request.eventId)},
                    "calledAt": {"S": now.isoformat()},
                },
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "key"},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            item = self._client.get_item(TableName=self._table, Key={"key": {"S": key}}, ConsistentRead=True)["Item"]
            return datetime.fromisoformat(item["calledAt"]["S"])
        return now


class PaymentProvider:
    def __init__(self, store: EventStore, network: CardNetwork, calls: PaymentCalls):
        self._answers = Answers(store, PAYMENTS)
        self.network = network
        self._calls = calls

    def handle(self, event: Envelope) -> dict[str, Any]:
        if event.eventType == EventType.PAYMENT_REQUESTED:
            return self._charge(event)
        return self._refund(event)

    def _charge(self, request: Envelope) -> dict[str, Any]:
        order_id, amount = request.payload.orderId, request.payload.amount
        if self._answers.answered(order_id) is not None:
            return {"orderId": order_id, "outcome": "already-answered"}
        key = f"charge:{order_id}"
        self._before_calling(key, request)
        payload: PaymentFailed | PaymentProcessed
        try:
            payment_id = self.network.charge(key, amount)
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
        if self._answers.undone(order_id) is not None:
            return {"orderId": order_id, "outcome": "nothing-to-refund"}  # refunded already
        if request.payload.amount > charged.payload.amount:
            raise RefundExceedsCharge(
                f"refund {request.eventId} asks {request.payload.amount:.2f}, more than payment "
                f"{payment_id} charged ({charged.payload.amount:.2f})"
            )
        key = f"refund:{payment_id}"
        self._before_calling(key, request)
        self.network.refund(key, request.payload.amount)
        payload = PaymentRefunded(orderId=order_id, paymentId=payment_id, amount=request.payload.amount)
        if not self._answers.undo(EventType.PAYMENT_REFUNDED, order_id, payload, request):
            return {"orderId": order_id, "outcome": "nothing-to-refund"}  # refunded already
        return {"orderId": order_id, "outcome": EventType.PAYMENT_REFUNDED.value}

    def _before_calling(self, key: str, request: Envelope) -> None:
        """Record the call; refuse to repeat one the network may have forgotten."""
        now = self.network.clock()
        called = self._calls.record(key, request, now)
        if now - called > timedelta(seconds=self.network.key_seconds) - REPEAT_MARGIN:
            raise CallNotAnswered(
                f"the card network was called with {key} at {called.isoformat()} for event {request.eventId} "
                "and no answer was recorded; it may have forgotten the key since, so it is not called again: "
                "reconcile with the network, then record the answer"
            )
