"""Per-day counters, exactly once per event.

Each event increments its day's counters in the same transaction that writes a marker for its
eventId; a second delivery fails the marker's condition and changes nothing. The day is the
event's own timestamp (UTC), so a replay counts into the day the event happened.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

from catalog import Envelope, EventType

# What each event type adds to its day, besides the per-type count.
_COUNTERS: dict[EventType, dict[str, Any]] = {
    EventType.USER_REGISTERED: {"usersRegistered": 1},
    EventType.ORDER_CREATED: {"ordersPlaced": 1},
    EventType.ORDER_CANCELLED: {"ordersCancelled": 1},
    EventType.ORDER_COMPLETED: {"ordersCompleted": 1},
}
FIELDS = ("events", "usersRegistered", "ordersPlaced", "ordersCancelled", "ordersCompleted", "bookedRevenue", "revenue")


def increments(event: Envelope) -> dict[str, Any]:
    """The counters this event adds to, and by how much (money as exact Decimal)."""
    event_type = EventType(event.eventType)
    deltas: dict[str, Any] = {"events": 1, f"count_{event_type.value}": 1, **_COUNTERS.get(event_type, {})}
    if event_type is EventType.ORDER_CREATED:
        deltas["bookedRevenue"] = event.payload.totalAmount  # what customers ordered
    elif event_type is EventType.PAYMENT_PROCESSED:
        deltas["revenue"] = event.payload.amount  # what was charged...
    elif event_type is EventType.PAYMENT_REFUNDED:
        deltas["revenue"] = -event.payload.amount  # ...less what was given back
    return deltas


class DailyCounters:
    def __init__(self, table_name: str, *, client=None):
        self._table = table_name
        self._client = client or boto3.client("dynamodb")

    def record(self, event: Envelope) -> dict[str, Any]:
        day = event.timestamp.date().isoformat()
        deltas = increments(event)
        names = {f"#c{i}": name for i, name in enumerate(deltas)}
        values = {f":c{i}": {"N": str(value)} for i, value in enumerate(deltas.values())}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": {
                        "TableName": self._table,
                        "Item": {"pk": {"S": f"event#{event.eventId}"}, "day": {"S": day}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }},
                    {"Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": f"day#{day}"}},
                        "UpdateExpression": "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values)),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }},
                ]
            )
        except ClientError as error:
            reasons = error.response.get("CancellationReasons", [])
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return {"day": day, "outcome": "already-counted"}
            raise
        return {"day": day, "outcome": "counted"}

    def day(self, day: str) -> dict[str, Any]:
        item = self._client.get_item(TableName=self._table, Key={"pk": {"S": f"day#{day}"}}, ConsistentRead=True).get("Item", {})
        counters = {name: Decimal(value["N"]) for name, value in item.items() if "N" in value}
        summary: dict[str, Any] = {"date": day}
        for name in FIELDS:
            amount = counters.get(name, Decimal(0))
            summary[name] = f"{amount:.2f}" if name.endswith("evenue") else int(amount)
        summary["byEventType"] = {
            name.removeprefix("count_"): int(value) for name, value in sorted(counters.items()) if name.startswith("count_")
        }
        return summary
