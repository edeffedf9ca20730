"""Reserving an order's stock: every line at once or none, and releasing it again.

An order's reservation is its own stream of answers (eventstore/answers.py,
`reservation:<orderId>`), and the stream is the record. A reservation is one
TransactWriteItems: INVENTORY_UPDATED as version 1 (written only if absent: an order is
answered once) and each product's stock decremented on condition that enough is available.
If any line is short the whole transaction fails, nothing moves, and INVENTORY_INSUFFICIENT
(version 1, on the same condition) names the lines that were short. A release is
INVENTORY_RELEASED as version 2 with the stock given back, once, and only after an
INVENTORY_UPDATED. When the order completes, its reservation is handed over for shipping:
INVENTORY_SHIPPED as version 2, with the units taken out of `reserved` (they leave the
warehouse), once. So a product's `reserved` is the units held for orders not yet completed
(a warehouse's "allocated, not yet picked"), and `available + reserved` the units on hand. The
version 2 of a reservation is its end, one or the other: released or shipped. Stock can never go
negative: the condition is checked by DynamoDB at write time, not read beforehand.
"""

from __future__ import annotations

from typing import Any

from catalog import Envelope, EventType
from catalog.payloads import (
    InventoryInsufficient,
    InventoryReleased,
    InventoryShipped,
    InventoryUpdated,
    ReservedLine,
)
from common import clients
from eventstore.answers import RESERVATIONS, OrderAnswers
from eventstore.store import EventStore, GuardFailed


class Reservations:
    def __init__(self, store: EventStore, stock_table: str, *, client=None):
        self._answers = OrderAnswers(store, RESERVATIONS)
        self._stock = stock_table
        self._client = client or clients.client("dynamodb")

    def handle(self, event: Envelope) -> dict[str, Any]:
        if event.eventType == EventType.INVENTORY_RESERVATION_REQUESTED:
            return self.reserve(event)
        if event.eventType == EventType.ORDER_COMPLETED:
            return self.ship(event)
        return self.release(event)

    def reserve(self, request: Envelope) -> dict[str, Any]:
        order_id, lines = request.payload.orderId, request.payload.lines
        try:
            if self._answers.record(
                EventType.INVENTORY_UPDATED,
                order_id,
                InventoryUpdated(orderId=order_id, lines=lines),
                request,
                together_with=[self._move(line, available=-line.quantity) for line in lines],
            ):
                return {"orderId": order_id, "outcome": "reserved"}
            return {"orderId": order_id, "outcome": "already-answered"}
        except GuardFailed:
            pass  # a line is short
        short = self._short_lines(lines)
        if not self._answers.record(
            EventType.INVENTORY_INSUFFICIENT,
            order_id,
            InventoryInsufficient(orderId=order_id, shortLines=short),
            request,
        ):
            return {"orderId": order_id, "outcome": "already-answered"}
        return {"orderId": order_id, "outcome": "insufficient", "short": [line.productId for line in short]}

    def release(self, request: Envelope) -> dict[str, Any]:
        order_id = request.payload.orderId
        answer = self._answers.answer_of(order_id)
        if not answer or answer.eventType != EventType.INVENTORY_UPDATED:
            return {"orderId": order_id, "outcome": "nothing-to-release"}
        lines = answer.payload.lines
        try:
            if self._answers.reverse(
                EventType.INVENTORY_RELEASED,
                order_id,
                InventoryReleased(orderId=order_id, lines=lines),
                request,
                together_with=[self._move(line, available=line.quantity) for line in lines],
            ):
                return {"orderId": order_id, "outcome": "released"}
        except GuardFailed:
            pass
        return {"orderId": order_id, "outcome": "already-ended"}  # released, or shipped

    def ship(self, completed: Envelope) -> dict[str, Any]:
        """A completed order's reserved units leave the stock, once."""
        order_id = completed.payload.orderId
        answer = self._answers.answer_of(order_id)
        if not answer or answer.eventType != EventType.INVENTORY_UPDATED:
            return {"orderId": order_id, "outcome": "nothing-to-ship"}
        lines = answer.payload.lines
        try:
            shipped = self._answers.reverse(
                EventType.INVENTORY_SHIPPED,
                order_id,
                InventoryShipped(orderId=order_id, lines=lines),
                completed,
                together_with=[self._ship(line) for line in lines],
            )
        except GuardFailed:
            if self._answers.reversal_of(order_id) is None:
                raise  # fewer units reserved than the order holds: a bug, retried and then parked
            shipped = False  # ended already: its units are not reserved any more
        if not shipped:
            return {"orderId": order_id, "outcome": "already-ended"}  # shipped (or released) already
        return {"orderId": order_id, "outcome": "shipped"}

    # ---- transaction pieces -----------------------------------------------------------------

    def _move(self, line: ReservedLine, *, available: int) -> dict:
        """Move quantity between available and reserved; never below zero on either side."""
        taking = available < 0
        return {
            "Update": {
                "TableName": self._stock,
                "Key": {"productId": {"S": line.productId}},
                "UpdateExpression": "SET available = available + :delta, reserved = reserved - :delta",
                "ConditionExpression": "available >= :needed" if taking else "reserved >= :needed",
                "ExpressionAttributeValues": {":delta": {"N": str(available)}, ":needed": {"N": str(line.quantity)}},
            }
        }

    def _ship(self, line: ReservedLine) -> dict:
        """Take the line's units out of reserved: they are no longer on hand."""
        return {
            "Update": {
                "TableName": self._stock,
                "Key": {"productId": {"S": line.productId}},
                "UpdateExpression": "SET reserved = reserved - :quantity",
                "ConditionExpression": "reserved >= :quantity",
                "ExpressionAttributeValues": {":quantity": {"N": str(line.quantity)}},
            }
        }

    def _short_lines(self, lines) -> tuple[ReservedLine, ...]:
        """The lines stock could not cover, each with how many units it was short."""
        keys = [{"productId": {"S": line.productId}} for line in lines]
        response = self._client.batch_get_item(RequestItems={self._stock: {"Keys": keys, "ConsistentRead": True}})
        available = {item["productId"]["S"]: int(item["available"]["N"]) for item in response["Responses"][self._stock]}
        short = tuple(
            ReservedLine(productId=line.productId, quantity=line.quantity - available.get(line.productId, 0))
            for line in lines
            if available.get(line.productId, 0) < line.quantity
        )
        # Stock moved back between the failed transaction and this read: call the first line short.
        return short or (lines[0],)
