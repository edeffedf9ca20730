"""Payments: the charge and the refund of an order, at a card network that deduplicates by key,
reached at most once per request, however often the request is delivered, redriven or replayed.

The card network is simulated, deterministic so every path can be driven on purpose: an
amount over the card's limit in its currency is declined ("amount 1200.00 EUR exceeds the card
limit of 1000.00 EUR"); any other amount is charged. The limit is the function's payment_limit
setting (1000.00) in euros, and about as much in each other currency the network takes
(CARD_LIMIT_RATES); a currency it does not take is declined. Like a real provider's
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
from eventstore.answers import PAYMENTS, OrderAnswers
from eventstore.store import EventStore

KEYS = uuid.UUID("6f1d2a43-0c1e-4d39-9a59-3c1f2b8e5d70")  # namespace of the simulated network's ids
# How long the network remembers a key: Stripe's 24 hours.
KEY_SECONDS = 24 * 3600
# A call older than the network's window less this is not repeated: a margin for clocks and a call
# in flight (a 24th of the window when that is shorter: a test's window of a minute).
REPEAT_MARGIN = timedelta(hours=1)


# The simulated network's card limit in each currency it takes, as units of it a euro of the
# limit is (rounded rates: the network's, not the market's). Every currency an order may be in
# is here (tests/unit/test_money.py).
CARD_LIMIT_RATES = {
    "EUR": Decimal("1"),
    "USD": Decimal("1.10"),
    "GBP": Decimal("0.85"),
    "CHF": Decimal("0.95"),
    "SEK": Decimal("11.50"),
    "NOK": Decimal("11.70"),
    "DKK": Decimal("7.46"),
    "PLN": Decimal("4.30"),
    "CZK": Decimal("25.00"),
    "CAD": Decimal("1.55"),
    "AUD": Decimal("1.70"),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class Declined(Exception):
    """The network refused the charge; the reason is the customer's to read."""


class RefundExceedsCharge(ValueError):
    """A refund asked for more than the payment charged, or in another currency: a bug in its
    writer, never paid; it fails, so it is retried and then parked with this reason."""


class CallNotAnswered(RuntimeError):
    """The network was called for this request and no answer was recorded, longer ago than it
    remembers keys: calling again could move the money twice."""


@dataclass(frozen=True)
class Remembered:
    at: datetime
    answer: str  # the payment id, "refunded", or the decline's reason
    declined: bool


class NetworkMemory:
    """The simulated network's own memory, in a table of its own (the stand-in for the
    provider's side): which key it answered, when, how, and how often it moved money under it.
    Shared by every container of the function, as a provider's memory is by every caller."""

    def __init__(self, table_name: str, *, client=None):
        self._table = table_name
        self._client = client or clients.client("dynamodb")

    def recall(self, key: str) -> Remembered | None:
        item = self._client.get_item(TableName=self._table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return Remembered(datetime.fromisoformat(item["at"]["S"]), item["answer"]["S"], item["declined"]["BOOL"])

    def remember(self, key: str, remembered: Remembered, amount: Decimal | None, *, forgotten_before: datetime) -> bool:
        """Keep this answer under the key, and count the money it moved; False if another call
        under the key (one still remembered) got there first."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"key": {"S": key}},
                UpdateExpression=(
                    "SET #at = :at, answer = :answer, declined = :declined, amount = :amount ADD moves :moves"
                ),
                ConditionExpression="attribute_not_exists(#k) OR #at < :forgotten",
                ExpressionAttributeNames={"#at": "at", "#k": "key"},
                ExpressionAttributeValues={
                    ":at": {"S": remembered.at.isoformat()},
                    ":answer": {"S": remembered.answer},
                    ":declined": {"BOOL": remembered.declined},
                    ":amount": {"N": str(amount if amount is not None else 0)},
                    ":moves": {"N": "1" if amount is not None else "0"},
                    ":forgotten": {"S": forgotten_before.isoformat()},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def moved(self) -> dict[str, Decimal]:
        """The money moved, by key (`key#2` for a second time under a key the network forgot)."""
        moved: dict[str, Decimal] = {}
        for page in self._client.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
            for item in page["Items"]:
                key, amount = item["key"]["S"], Decimal(item["amount"]["N"])
                for n in range(1, int(item.get("moves", {"N": "0"})["N"]) + 1):
                    moved[key if n == 1 else f"{key}#{n}"] = amount
        return moved


@dataclass
class CardNetwork:
    """The simulated provider: one answer per idempotency key for as long as it remembers it,
    whoever asks and however often; after that, the key is new to it."""

    limit: Decimal  # in euros; CARD_LIMIT_RATES gives it in the others
    memory: NetworkMemory
    key_seconds: int = KEY_SECONDS
    clock: Any = utc_now
    requests: list[str] = field(default_factory=list)  # the keys this process asked: what a test inspects

    @property
    def moved(self) -> dict[str, Decimal]:
        return self.memory.moved()

    def limit_in(self, currency: str) -> Decimal | None:
        """The card's limit in this currency; None if the network does not charge in it."""
        rate = CARD_LIMIT_RATES.get(currency)
        return None if rate is None else (self.limit * rate).quantize(Decimal("0.01"))

    def charge(self, key: str, amount: Decimal, currency: str) -> str:
        """The payment id of the charge made under this key; Declined if the card refuses it."""
        remembered = self._recall(key)
        if remembered is None:
            limit = self.limit_in(currency)
            refusal = (
                f"the card network does not charge in {currency}"
                if limit is None
                else f"amount {amount:.2f} {currency} exceeds the card limit of {limit:.2f} {currency}"
                if amount > limit
                else None
            )
            if refusal is not None:
                remembered = self._remember(key, refusal, declined=True, amount=None)
            else:
                remembered = self._remember(key, f"pay-{uuid.uuid5(KEYS, key).hex[:20]}", declined=False, amount=amount)
        if remembered.declined:
            raise Declined(remembered.answer)
        return remembered.answer

    def refund(self, key: str, amount: Decimal) -> None:
        if self._recall(key) is None:
            self._remember(key, "refunded", declined=False, amount=-amount)

    def _forgotten_before(self) -> datetime:
        return self.clock() - timedelta(seconds=self.key_seconds)

    def _recall(self, key: str) -> Remembered | None:
        """The answer given under this key, while it is remembered."""
        self.requests.append(key)
        logger.info("card network called", extra={"key": key})  # one line a call: the calls are counted by it
        remembered = self.memory.recall(key)
        return remembered if remembered is not None and remembered.at >= self._forgotten_before() else None

    def _remember(self, key: str, answer: str, *, declined: bool, amount: Decimal | None) -> Remembered:
        remembered = Remembered(self.clock(), answer, declined)
        if self.memory.remember(key, remembered, amount, forgotten_before=self._forgotten_before()):
            return remembered
        first = self.memory.recall(key)  # a call under the same key, at the same moment, went first
        if first is None:
            raise RuntimeError(f"the card network lost its answer under {key}")
        return first


class PaymentCalls:
    """Each call to the network, recorded before it is made: its key, the request it serves and
    when. Written once a key; read when a request comes back unanswered."""

    def __init__(self, table_name: str, *, client=None):
        self._table = table_name
        self._client = client or clients.client("dynamodb")

    def first(self, key: str) -> datetime | None:
        """When the network was first called with this key; None if it never was (as recorded)."""
        item = self._client.get_item(TableName=self._table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        return datetime.fromisoformat(item["calledAt"]["S"]) if item else None

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
            called = self.first(key)
            if called is None:
                raise RuntimeError(f"the call recorded under {key} is gone") from None
            return called
        return now


class PaymentProvider:
    def __init__(self, store: EventStore, network: CardNetwork, calls: PaymentCalls):
        self._answers = OrderAnswers(store, PAYMENTS)
        self.network = network
        self._calls = calls

    def handle(self, event: Envelope) -> dict[str, Any]:
        if event.eventType == EventType.PAYMENT_REQUESTED:
            return self._charge(event)
        return self._refund(event)

    def _charge(self, request: Envelope) -> dict[str, Any]:
        order_id, amount, currency = request.payload.orderId, request.payload.amount, request.payload.currency
        if self._answers.answer_of(order_id) is not None:
            return {"orderId": order_id, "outcome": "already-answered"}
        key = f"charge:{order_id}"
        self._before_calling(key, request)
        payload: PaymentFailed | PaymentProcessed
        try:
            payment_id = self.network.charge(key, amount, currency)
        except Declined as declined:
            outcome, payload = EventType.PAYMENT_FAILED, PaymentFailed(orderId=order_id, reason=str(declined))
        else:
            outcome = EventType.PAYMENT_PROCESSED
            payload = PaymentProcessed(orderId=order_id, paymentId=payment_id, amount=amount, currency=currency)
        if not self._answers.record(outcome, order_id, payload, request):
            return {"orderId": order_id, "outcome": "already-answered"}
        return {"orderId": order_id, "outcome": outcome.value}

    def _refund(self, request: Envelope) -> dict[str, Any]:
        order_id, payment_id = request.payload.orderId, request.payload.paymentId
        charged = self._answers.answer_of(order_id)
        if not charged or charged.eventType != EventType.PAYMENT_PROCESSED or charged.payload.paymentId != payment_id:
            return {"orderId": order_id, "outcome": "nothing-to-refund"}
        if self._answers.reversal_of(order_id) is not None:
            return {"orderId": order_id, "outcome": "nothing-to-refund"}  # refunded already
        asked, paid = request.payload, charged.payload
        if asked.currency != paid.currency or asked.amount > paid.amount:
            raise RefundExceedsCharge(
                f"refund {request.eventId} asks {asked.amount:.2f} {asked.currency}, more than payment "
                f"{payment_id} charged ({paid.amount:.2f} {paid.currency})"
            )
        key = f"refund:{payment_id}"
        self._before_calling(key, request)
        self.network.refund(key, request.payload.amount)
        payload = PaymentRefunded(orderId=order_id, paymentId=payment_id, amount=asked.amount, currency=asked.currency)
        if not self._answers.reverse(EventType.PAYMENT_REFUNDED, order_id, payload, request):
            return {"orderId": order_id, "outcome": "nothing-to-refund"}  # refunded already
        return {"orderId": order_id, "outcome": EventType.PAYMENT_REFUNDED.value}

    def _before_calling(self, key: str, request: Envelope) -> None:
        """Record the call; refuse one the network may have forgotten a call of. A request with
        no call recorded is older than the network's window only if it was delivered to no run
        that called: or to one before calls were recorded, or it waited that long unanswered,
        while the saga's timeout cancelled its order. Either way it is not called, but parked."""
        now = self.network.clock()
        window = timedelta(seconds=self.network.key_seconds)
        repeat_within = window - min(REPEAT_MARGIN, window / 24)
        # A young request is recorded at once (one write; a conditional one, which finds an earlier
        # call). Only an old one is read first, as recording it would make a call of it look new.
        called = self._calls.record(key, request, now) if now - request.timestamp <= repeat_within else None
        if called is None:
            called = self._calls.first(key)
            if called is None:
                raise CallNotAnswered(
                    f"request {request.eventId} ({key}) of {request.timestamp.isoformat()} is older than the card "
                    "network remembers keys and was never answered: it is not called, as an earlier call may not "
                    "have been recorded; reconcile with the network, then record the answer"
                )
        if now - called > repeat_within:
            raise CallNotAnswered(
                f"the card network was called with {key} at {called.isoformat()} for event {request.eventId} "
                "and no answer was recorded; it may have forgotten the key since, so it is not called again: "
                "reconcile with the network, then record the answer"
            )
