"""Per-day counters, exactly once per event, in each currency apart.

Two steps, each exactly once by its own condition:

1. **Count** (the bus consumer): each event writes one marker with what it adds to its day,
   conditional on its eventId not being there yet. A second delivery, a retry or a replay
   finds the marker and changes nothing.
2. **Fold** (the marker table's stream, a batch at a time): a batch's markers are summed by day
   and lane, and every (day, lane) counter takes its sum in one transaction with the batch's
   receipt (`fold#<its first record>`: how far it folded). A batch that comes again, a retry or a
   redrive of one parked after its retries while the stream moved on, reads its receipt and adds
   only the records past it: exactly what it had not added. A failed transaction adds nothing.

Markers are spread over LANES partition keys by their eventId, so no key takes every event's
write (one partition takes at most 1,000 write units a second). The day's figures are the sum
of its lanes' counters. The day is the event's own timestamp (UTC), so a replay counts into the
day the event happened.

Money is counted in its own currency, never added to another's: `booked:EUR`, `captured:SEK`.
What customers ordered (`booked`: each order's total when placed, and what a change added or
took off it) beside what was cancelled (`cancelled`: the order's total when cancelled), so the
day's net bookings are the one less the other; what the card network took (`captured`) beside
what it gave back (`refunded`), so the day's revenue is the one less the other.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from catalog import Envelope, EventType
from common import clients
from eventstore.store import MAX_TRANSACTION_ACTIONS
from orders.aggregate import Order

# Each lane's partition key takes 1/8 of the markers: 750 writes a second at 1,000 orders a
# second, within a partition's 1,000 (each marker is its own item, written once); more lanes
# would cost more counter updates a folded batch (docs/SCALING.md weighs it). A lane is the
# eventId's hash modulo LANES: change it only on an empty table, or a replay of an event counted
# before the change would find no marker in its new lane and count it again.
LANES = 8
_SEQUENCE_DIGITS = 40  # stream sequence numbers, zero-padded so that they compare as strings
# A receipt outlives the records it names: a parked batch is redriven from the stream, which keeps
# them 24 hours; after that there is nothing to redrive.
RECEIPT_DAYS = 2

# What each event type adds to its day's counts, besides the per-type count.
COUNTS: dict[EventType, str] = {
    EventType.USER_REGISTERED: "usersRegistered",
    EventType.ORDER_CREATED: "ordersPlaced",
    EventType.ORDER_CANCELLED: "ordersCancelled",
    EventType.ORDER_COMPLETED: "ordersCompleted",
}
COUNT_FIELDS = ("events", "usersRegistered", "ordersPlaced", "ordersCancelled", "ordersCompleted")
# The money counters, each one a currency: `<name>:<currency>`.
MONEY = ("booked", "cancelled", "captured", "refunded")
# The events whose figure needs the order as it was before them (analytics/consumer.py reads it).
NEEDS_THE_ORDER_BEFORE = (EventType.ORDER_UPDATED, EventType.ORDER_CANCELLED)


class FoldConflict(RuntimeError):
    """A batch's receipt moved between its read and the fold: the same batch folded elsewhere."""


def money(name: str, currency: str) -> str:
    return f"{name}:{currency}"


def increments(event: Envelope, before: Order | None = None) -> dict[str, Decimal]:
    """The counters this event adds to, and by how much (money as exact Decimal). `before` is the
    order as it was before the event, for a change and a cancellation (NEEDS_THE_ORDER_BEFORE)."""
    event_type = EventType(event.eventType)
    deltas: dict[str, Decimal] = {"events": Decimal(1), f"count_{event_type.value}": Decimal(1)}
    if event_type in COUNTS:
        deltas[COUNTS[event_type]] = Decimal(1)
    payload = event.payload
    if event_type in NEEDS_THE_ORDER_BEFORE and before is None:
        raise ValueError(f"{event_type} is counted with the order as it was before it")
    match event_type:
        case EventType.ORDER_CREATED:
            deltas[money("booked", payload.currency)] = payload.totalAmount
        case EventType.ORDER_UPDATED:
            assert before is not None
            deltas[money("booked", before.currency)] = payload.totalAmount - before.totalAmount
        case EventType.ORDER_CANCELLED:
            assert before is not None
            deltas[money("cancelled", before.currency)] = before.totalAmount
        case EventType.PAYMENT_PROCESSED:
            deltas[money("captured", payload.currency)] = payload.amount
        case EventType.PAYMENT_REFUNDED:
            deltas[money("refunded", payload.currency)] = payload.amount
    return deltas


def lane_of(event_id: str) -> str:
    return f"lane#{int(hashlib.md5(event_id.encode()).hexdigest()[:8], 16) % LANES}"


def counter_key(day: str, lane: str) -> str:
    return f"day#{day}#{lane}"


@dataclass(frozen=True)
class Marker:
    """One event's marker, as its stream record brings it to the fold."""

    record_id: str
    sequence: str
    day: str
    lane: str
    at: datetime
    deltas: dict[str, Decimal]

    @classmethod
    def of(cls, record: dict) -> Marker:
        image = record["dynamodb"]["NewImage"]
        day = image["day"]["S"]
        at = (
            datetime.fromisoformat(image["at"]["S"])
            if "at" in image
            else datetime.fromisoformat(f"{day}T00:00:00+00:00")
        )
        return cls(
            record_id=record["eventID"],
            sequence=record["dynamodb"]["SequenceNumber"].zfill(_SEQUENCE_DIGITS),
            day=day,
            lane=image["lane"]["S"],
            at=at,
            deltas={name: Decimal(value["N"]) for name, value in image["deltas"]["M"].items()},
        )


@dataclass
class Added:
    """What folds added, by day: each day's sums, and the latest event time counted in it (the
    time its metrics are stamped with)."""

    days: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    latest: dict[str, datetime] = field(default_factory=dict)

    def add(self, day: str, deltas: dict[str, Decimal], at: datetime) -> None:
        sums = self.days.setdefault(day, {})
        for name, value in deltas.items():
            sums[name] = sums.get(name, Decimal(0)) + value
        self.latest[day] = max(at, self.latest.get(day, at))

    def merge(self, other: Added) -> None:
        for day, sums in other.days.items():
            self.add(day, sums, other.latest[day])

    def to_json(self) -> str:
        return json.dumps(
            {
                day: {"at": self.latest[day].isoformat(), "sums": {n: str(v) for n, v in sums.items()}}
                for day, sums in self.days.items()
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Added:
        added = cls()
        for day, entry in json.loads(text).items():
            added.add(day, {n: Decimal(v) for n, v in entry["sums"].items()}, datetime.fromisoformat(entry["at"]))
        return added


@dataclass
class Folded:
    """A batch's fold: how many markers it added and had added before, what is to be published
    as metrics (what it added, and what an earlier attempt added and did not publish), and the
    receipts to mark published once it is."""

    folded: int = 0
    already: int = 0
    unpublished: Added = field(default_factory=Added)
    receipts: list[str] = field(default_factory=list)


class DailyCounters:
    """table_name: the counters and the folds' receipts (the fold writes them, the API reads the
    counters); markers_table: the markers (the consumer writes them). Each function names only
    the table it uses."""

    def __init__(self, table_name: str | None = None, markers_table: str | None = None, *, client=None):
        self._table = table_name
        self._markers = markers_table
        self._client = client or clients.client("dynamodb")

    # ---- 1. count: one conditional write an event --------------------------------------------

    def record(self, event: Envelope, before: Order | None = None) -> dict[str, Any]:
        day = event.timestamp.astimezone(UTC).date().isoformat()
        item = {
            "lane": {"S": lane_of(str(event.eventId))},
            "eventId": {"S": str(event.eventId)},
            "day": {"S": day},
            "at": {"S": event.timestamp.astimezone(UTC).isoformat()},
            "deltas": {"M": {name: {"N": str(value)} for name, value in increments(event, before).items()}},
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

    # ---- 2. fold: a transaction a batch, with its receipt -------------------------------------

    def fold(self, records: Iterable[dict]) -> Folded:
        """Add a stream batch's markers to their (day, lane) counters, each exactly once."""
        markers = [Marker.of(record) for record in records if record.get("eventName") == "INSERT"]
        result = Folded()
        for run in _runs(markers):
            self._fold_run(run, result)
        return result

    def _fold_run(self, run: list[Marker], result: Folded) -> None:
        key = {"pk": {"S": f"fold#{run[0].record_id}"}}
        receipt = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        done = receipt["last"]["S"] if receipt else None
        earlier = Added.from_json(receipt["added"]["S"]) if receipt and not receipt["published"]["BOOL"] else Added()
        fresh = [marker for marker in run if done is None or marker.sequence > done]
        result.already += len(run) - len(fresh)
        if not fresh:
            if earlier.days:  # folded by an attempt that died before it published
                result.unpublished.merge(earlier)
                result.receipts.append(key["pk"]["S"])
            return
        groups: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        added = Added()
        for marker in fresh:
            for name, value in marker.deltas.items():
                groups[(marker.day, marker.lane)][name] += value
            added.add(marker.day, marker.deltas, marker.at)
        pending = Added()
        pending.merge(earlier)
        pending.merge(added)
        actions = [self._add(day, lane, sums) for (day, lane), sums in groups.items()]
        actions.append(self._receipt(key, run, done, pending))
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                raise FoldConflict(f"batch {key['pk']['S']} was folded elsewhere meanwhile") from None
            raise
        result.folded += len(fresh)
        result.unpublished.merge(pending)
        result.receipts.append(key["pk"]["S"])

    def _add(self, day: str, lane: str, sums: dict[str, Decimal]) -> dict:
        names = {f"#c{i}": name for i, name in enumerate(sums)}
        values = {f":c{i}": {"N": str(value)} for i, value in enumerate(sums.values())}
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": counter_key(day, lane)}},
                "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(sums))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _receipt(self, key: dict, run: list[Marker], done: str | None, pending: Added) -> dict:
        expires = datetime.now(UTC) + timedelta(days=RECEIPT_DAYS)
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **key,
                "last": {"S": max(marker.sequence for marker in run)},
                "added": {"S": pending.to_json()},
                "published": {"BOOL": False},
                "expiresAt": {"N": str(int(expires.timestamp()))},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if done is not None:
            put["ConditionExpression"] = "#last = :done"
            put["ExpressionAttributeNames"] = {"#last": "last"}
            put["ExpressionAttributeValues"] = {":done": {"S": done}}
        return {"Put": put}

    def published(self, receipts: Iterable[str]) -> None:
        """The metrics of these folds are out: a retry of their batches publishes them no more."""
        for receipt in receipts:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": receipt}},
                UpdateExpression="SET published = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )

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
        return summary(day, counters)


def summary(day: str, counters: dict[str, Decimal]) -> dict[str, Any]:
    """A day's counters as the API shows them: counts, then money by currency."""
    body: dict[str, Any] = {"date": day, **{name: int(counters.get(name, 0)) for name in COUNT_FIELDS}}
    currencies = sorted({name.partition(":")[2] for name in counters if name.partition(":")[0] in MONEY})
    by_currency = {}
    for currency in currencies:
        figures = {name: counters.get(money(name, currency), Decimal(0)) for name in MONEY}
        figures["netBooked"] = figures["booked"] - figures["cancelled"]
        figures["revenue"] = figures["captured"] - figures["refunded"]
        by_currency[currency] = {name: f"{value:.2f}" for name, value in figures.items()}
    body["byCurrency"] = by_currency
    # Counted before money was kept by currency: every currency added together, as it was then.
    legacy = {name: counters[name] for name in ("bookedRevenue", "revenue") if counters.get(name)}
    if legacy:
        body["beforeCurrencies"] = {name: f"{value:.2f}" for name, value in legacy.items()}
    body["byEventType"] = {
        name.removeprefix("count_"): int(value) for name, value in sorted(counters.items()) if name.startswith("count_")
    }
    return body


def _runs(markers: list[Marker]) -> Iterator[list[Marker]]:
    """The batch in consecutive runs whose (day, lane) counters and receipt fit one transaction:
    the same runs each time the same records come (a retry, a redrive)."""
    run: list[Marker] = []
    groups: set[tuple[str, str]] = set()
    for marker in markers:
        group = (marker.day, marker.lane)
        if group not in groups and len(groups) == MAX_TRANSACTION_ACTIONS - 1:
            yield run
            run, groups = [], set()
        run.append(marker)
        groups.add(group)
    if run:
        yield run
