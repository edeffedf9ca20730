"""Per-day counters, exactly once per event, at one write an event.

Two steps, each exactly once by its own condition:

1. **Count** (the bus consumer): each event writes one marker with what it adds to its day,
   conditional on its eventId not being there yet. A second delivery, a retry or a replay
   finds the marker and changes nothing.
2. **Fold** (the marker table's stream, a batch at a time): the markers of a batch are summed
   by day and lane, and each (day, lane) counter item takes its sum in one update, conditional
   on the last stream sequence number it folded. A batch that comes again (a retry) finds its
   records already folded and adds only what it has not.

Markers are spread over LANES partition keys by their eventId, so no key takes every event's
write (one partition takes at most 1,000 write units a second), and a lane's records keep
their order in the stream (one partition key is in one stream shard at a time). The day's
figures are the sum of its lanes' counters. The day is the event's own timestamp (UTC), so a
replay counts into the day the event happened.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from catalog import Envelope, EventType
from common import clients

# Each lane's partition key takes 1/8 of the markers: 750 writes a second at 1,000 orders a
# second, within a partition's 1,000 (each marker is its own item, written once); more lanes
# would cost more counter updates a folded batch (docs/SCALING.md weighs it). A lane is the
# eventId's hash modulo LANES: change it only on an empty table, or a replay of an event counted
# before the change would find no marker in its new lane and count it again.
LANES = 8
_SEQUENCE_DIGITS = 40  # stream sequence numbers, zero-padded so that they compare as strings

# What each event type adds to its day, besides the per-type count.
_COUNTERS: dict[EventType, dict[str, Any]] = {
    EventType.USER_REGISTERED: {"usersRegistered": 1},
    EventType.ORDER_CREATED: {"ordersPlaced": 1},
    EventType.ORDER_CANCELLED: {"ordersCancelled": 1},
    EventType.ORDER_COMPLETED: {"ordersCompleted": 1},
}
FIELDS = ("events", "usersRegistered", "ordersPlaced", "ordersCancelled", "ordersCompleted", "bookedRevenue", "revenue")


class FoldConflict(RuntimeError):
    """A counter moved between its read and its update: another fold of the same lane ran."""


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


def lane_of(event_id: str) -> str:
    return f"lane#{int(hashlib.md5(event_id.encode()).hexdigest()[:8], 16) % LANES}"


def counter_key(day: str, lane: str) -> str:
    return f"day#{day}#{lane}"


class DailyCounters:
    """table_name: the counters (the fold writes them, the API reads them); markers_table: the
    markers (the consumer writes them). Each function names only the table it uses."""

    def __init__(self, table_name: str | None = None, markers_table: str | None = None, *, client=None):
        self._table = table_name
        self._markers = markers_table
        self._client = client or clients.client("dynamodb")

    # ---- 1. count: one conditional write an event --------------------------------------------

    def record(self, event: Envelope) -> dict[str, Any]:
        day = event.timestamp.date().isoformat()
        item = {
            "lane": {"S": lane_of(str(event.eventId))},
            "eventId": {"S": str(event.eventId)},
            "day": {"S": day},
            "deltas": {"M": {name: {"N": str(value)} for name, value in increments(event).items()}},
        }
        try:
            self._client.put_item(
                TableName=self._markers, Item=item, ConditionExpression="attribute_not_exists(eventId)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return {"day": day, "outcome": "already-counted"}
            raise
        return {"day": day, "outcome": "counted"}

    # ---- 2. fold: one update per (day, lane) in a batch of the markers' stream ---------------

    def fold(self, records: Iterable[dict]) -> dict[str, Any]:
        """Add a stream batch's new markers to their (day, lane) counters. Returns how many
        markers were folded, how many had been folded before (a retried batch), and what the new
        ones added (`added`: counter name -> Decimal, summed over days and lanes)."""
        groups: dict[tuple[str, str], list[tuple[str, dict]]] = defaultdict(list)
        for record in records:
            if record.get("eventName") != "INSERT":
                continue  # markers are only ever inserted
            image = record["dynamodb"]["NewImage"]
            sequence = record["dynamodb"]["SequenceNumber"].zfill(_SEQUENCE_DIGITS)
            groups[(image["day"]["S"], image["lane"]["S"])].append((sequence, image["deltas"]["M"]))
        folded = skipped = 0
        added: dict[str, Decimal] = defaultdict(Decimal)
        for (day, lane), markers in groups.items():
            sums, old = self._fold_group(day, lane, markers)
            folded, skipped = folded + len(markers) - old, skipped + old
            for name, value in sums.items():
                added[name] += value
        return {"folded": folded, "alreadyFolded": skipped, "added": dict(added)}

    def _fold_group(self, day: str, lane: str, markers: list[tuple[str, dict]]) -> tuple[dict[str, Decimal], int]:
        """The sums the group's new markers added to their counter, and how many it had already."""
        key = {"pk": {"S": counter_key(day, lane)}}
        item = self._client.get_item(
            TableName=self._table, Key=key, ConsistentRead=True, ProjectionExpression="lastSequence"
        ).get("Item")
        last = item["lastSequence"]["S"] if item else None
        fresh = [(sequence, deltas) for sequence, deltas in markers if last is None or sequence > last]
        if not fresh:
            return {}, len(markers)
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for _, deltas in fresh:
            for name, value in deltas.items():
                sums[name] += Decimal(value["N"])
        names = {f"#c{i}": name for i, name in enumerate(sums)}
        values = {f":c{i}": {"N": str(value)} for i, value in enumerate(sums.values())}
        values[":last"] = {"S": max(sequence for sequence, _ in fresh)}
        condition = "attribute_not_exists(lastSequence)"
        if last is not None:
            condition = "lastSequence = :read"
            values[":read"] = {"S": last}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET lastSequence = :last ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(sums))),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise FoldConflict(f"counter {counter_key(day, lane)} moved during the fold") from None
            raise
        return sums, len(markers) - len(fresh)

    # ---- read: the day is the sum of its lanes -----------------------------------------------

    def day(self, day: str) -> dict[str, Any]:
        keys = [{"pk": {"S": counter_key(day, f"lane#{lane}")}} for lane in range(LANES)]
        found: list[dict] = []
        request: dict[str | None, Any] | None = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:  # a lane BatchGetItem leaves unread comes again, or the day would be short
            response = self._client.batch_get_item(RequestItems=request)
            found += response["Responses"].get(self._table, [])
            request = response.get("UnprocessedKeys") or None
        counters: dict[str, Decimal] = defaultdict(Decimal)
        for item in found:
            for name, value in item.items():
                if "N" in value:
                    counters[name] += Decimal(value["N"])
        summary: dict[str, Any] = {"date": day}
        for name in FIELDS:
            amount = counters.get(name, Decimal(0))
            summary[name] = f"{amount:.2f}" if name.endswith("evenue") else int(amount)
        summary["byEventType"] = {
            name.removeprefix("count_"): int(value)
            for name, value in sorted(counters.items())
            if name.startswith("count_")
        }
        return summary
