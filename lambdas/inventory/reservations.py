"""Reserving an order's stock: every line at once or none, and releasing it again.

A reservation is one TransactWriteItems: each product's stock decremented on condition that
enough is available, the order's reservation record created (once), and INVENTORY_UPDATED
appended. If any line is short the whole transaction fails, nothing moves, and
INVENTORY_INSUFFICIENT names the lines that were short. Stock can never go negative: the
condition is checked by DynamoDB at write time, not read beforehand.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from catalog import Envelope, EventType, new_event
from catalog.payloads import InventoryInsufficient, InventoryReleased, InventoryUpdated, ReservedLine
from eventstore.store import ConcurrencyError, EventStore, GuardFailed

USER = "inventory"


class Reservations:
    def __init__(self, store: EventStore, stock_table: str, reservations_table: str, *, client=None):
        self._store = store
        self._stock = stock_table
        self._reservations = reservations_table
        self._client = client or boto3.client("dynamodb")

    def handle(self, event: Envelope) -> dict[str, Any]:
        if event.eventType == EventType.INVENTORY_RESERVATION_REQUESTED:
            return self.reserve(event)
        return self.release(event)

    def reserve(self, request: Envelope) -> dict[str, Any]:
        order_id, lines = request.payload.orderId, request.payload.lines
        record = self._record(order_id, "RESERVED", lines, condition="attribute_not_exists(orderId)")
        updated = self._event(EventType.INVENTORY_UPDATED, order_id, InventoryUpdated(orderId=order_id, lines=lines), 1, request)
        moves = [self._move(line, available=-line.quantity) for line in lines]
        try:
            self._store.append([updated], guards=[record, *moves])
            return {"orderId": order_id, "outcome": "reserved"}
        except ConcurrencyError:
            return {"orderId": order_id, "outcome": "already-answered"}
        except GuardFailed as failed:
            if failed.index == 0:
                return {"orderId": order_id, "outcome": "already-answered"}
        short = self._short_lines(lines)
        record = self._record(order_id, "INSUFFICIENT", short, condition="attribute_not_exists(orderId)")
        insufficient = self._event(EventType.INVENTORY_INSUFFICIENT, order_id,
                                   InventoryInsufficient(orderId=order_id, shortLines=short), 1, request)
        try:
            self._store.append([insufficient], guards=[record])
        except (GuardFailed, ConcurrencyError):
            return {"orderId": order_id, "outcome": "already-answered"}
        return {"orderId": order_id, "outcome": "insufficient", "short": [line.productId for line in short]}

    def release(self, request: Envelope) -> dict[str, Any]:
        order_id = request.payload.orderId
        item = self._client.get_item(TableName=self._reservations, Key={"orderId": {"S": order_id}},
                                     ConsistentRead=True).get("Item")
        if item is None or item["status"]["S"] != "RESERVED":
            return {"orderId": order_id, "outcome": "nothing-to-release"}
        lines = tuple(ReservedLine.model_validate(line) for line in json.loads(item["lines"]["S"]))
        record = self._record(order_id, "RELEASED", lines, condition="#status = :reserved",
                              values={":reserved": {"S": "RESERVED"}})
        released = self._event(EventType.INVENTORY_RELEASED, order_id, InventoryReleased(orderId=order_id, lines=lines),
                               2, request)
        moves = [self._move(line, available=line.quantity) for line in lines]
        try:
            self._store.append([released], guards=[record, *moves])
        except (GuardFailed, ConcurrencyError):
            return {"orderId": order_id, "outcome": "already-released"}
        return {"orderId": order_id, "outcome": "released"}

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

    def _record(self, order_id: str, status: str, lines, *, condition: str, values: dict | None = None) -> dict:
        put: dict[str, Any] = {
            "TableName": self._reservations,
            "Item": {"orderId": {"S": order_id}, "status": {"S": status},
                     "lines": {"S": json.dumps([line.model_dump() for line in lines])}},
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = values
            put["ExpressionAttributeNames"] = {"#status": "status"}
        return {"Put": put}

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

    @staticmethod
    def _event(event_type: EventType, order_id: str, payload, version: int, cause: Envelope) -> Envelope:
        return new_event(event_type, aggregate_id=f"reservation:{order_id}", payload=payload, version=version,
                         user_id=USER, correlation_id=cause.metadata.correlationId, causation_id=str(cause.eventId))
