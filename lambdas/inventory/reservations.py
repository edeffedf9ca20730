"""Reserving an order's stock: every line at once or none, and releasing it again.

An order's reservation is its own stream in the event store, `reservation:<orderId>`, and the
stream is the record. A reservation is one TransactWriteItems: INVENTORY_UPDATED as version 1
(written only if absent: an order is answered once) and each product's stock decremented on
condition that enough is available. If any line is short the whole transaction fails, nothing
moves, and INVENTORY_INSUFFICIENT (version 1, on the same condition) names the lines that were
short. A release is INVENTORY_RELEASED as version 2 with the stock given back, once, and only
after an INVENTORY_UPDATED. Stock can never go negative: the condition is checked by DynamoDB
at write time, not read beforehand.
"""

from __future__ import annotations

from typing import Any


from catalog import Envelope, EventType, new_event
from catalog.payloads import InventoryInsufficient, InventoryReleased, InventoryUpdated, ReservedLine
from common import clients
from eventstore.store import ConcurrencyError, EventStore, GuardFailed

USER = "inventory"


class Reservations:
    def __init__(self, store: EventStore, stock_table: str, *, client=None):
        self._store = store
        self._stock = stock_table
        self._client = client or clients.client("dynamodb")

    def handle(self, event: Envelope) -> dict[str, Any]:
        if event.eventType == EventType.INVENTORY_RESERVATION_REQUESTED:
            return self.reserve(event)
        return self.release(event)

    def reserve(self, request: Envelope) -> dict[str, Any]:
        order_id, lines = request.payload.orderId, request.payload.lines
        updated = self._event(EventType.INVENTORY_UPDATED, order_id, InventoryUpdated(orderId=order_id, lines=lines), 1, request)
        try:
            self._store.append([updated], guards=[self._move(line, available=-line.quantity) for line in lines])
            return {"orderId": order_id, "outcome": "reserved"}
        except ConcurrencyError:
            return {"orderId": order_id, "outcome": "already-answered"}
        except GuardFailed:
            pass  # a line is short
        short = self._short_lines(lines)
        insufficient = self._event(EventType.INVENTORY_INSUFFICIENT, order_id,
                                   InventoryInsufficient(orderId=order_id, shortLines=short), 1, request)
        try:
            self._store.append([insufficient])
        except ConcurrencyError:
            return {"orderId": order_id, "outcome": "already-answered"}
        return {"orderId": order_id, "outcome": "insufficient", "short": [line.productId for line in short]}

    def release(self, request: Envelope) -> dict[str, Any]:
        order_id = request.payload.orderId
        answer = self._store.load(self.stream(order_id), up_to_version=1)
        if not answer or answer[0].eventType != EventType.INVENTORY_UPDATED:
            return {"orderId": order_id, "outcome": "nothing-to-release"}
        lines = answer[0].payload.lines
        released = self._event(EventType.INVENTORY_RELEASED, order_id, InventoryReleased(orderId=order_id, lines=lines),
                               2, request)
        try:
            self._store.append([released], guards=[self._move(line, available=line.quantity) for line in lines])
        except (GuardFailed, ConcurrencyError):
            return {"orderId": order_id, "outcome": "already-released"}
        return {"orderId": order_id, "outcome": "released"}

    @staticmethod
    def stream(order_id: str) -> str:
        return f"reservation:{order_id}"

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

    def _short_lines(self, lines) -> tuple[ReservedLine, ...]:
        """The lines stock could not cover, each with how many units it was short."""
        keys = [{"productId": {"S": line.productId}} for line in lines]
        response = self._client.batch_get_item(RequestItems={self._stock: {"Keys": keys, "ConsistentRead": True}})
        available = {item["productId"]["S"]: int(item["available"]["N"]) for item in response["Responses"][self._stock]}
        short = tuple(
            ReservedLine(productId=line.productId, quantity=line.quantity - available.get(line.productId, 0))
            for line in lines if available.get(line.productId, 0) < line.quantity
        )
        # Stock moved back between the failed transaction and this read: call the first line short.
        return short or (lines[0],)

    @classmethod
    def _event(cls, event_type: EventType, order_id: str, payload, version: int, cause: Envelope) -> Envelope:
        return new_event(event_type, aggregate_id=cls.stream(order_id), payload=payload, version=version,
                         user_id=USER, correlation_id=cause.metadata.correlationId, causation_id=str(cause.eventId))
