"""The DynamoDB event store: append-only, one partition per aggregate, optimistic concurrency.

Items are keyed by (aggregateId, version). An append is conditional on the key not existing,
so two writers that both read version N cannot both write N+1: the loser gets a
ConcurrencyError. The whole envelope is kept as JSON in `detail`, exactly as published; beside
it, not in it, the X-Ray trace header of the invocation that wrote it (`traceHeader`), which
the outbox hands to EventBridge so that the consumers continue that trace: one trace an order,
from its POST to its completion, instead of one more for every batch the outbox publishes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from botocore.exceptions import ClientError

from catalog import CATALOG, Envelope, EventType, parse_event
from common import clients, tracing
from common.limits import MAX_ENTRY_BYTES, MAX_ITEM_BYTES, entry_size, item_size

MAX_TRANSACTION_ACTIONS = 100  # TransactWriteItems limit


class EventStoreError(Exception):
    pass


class ConcurrencyError(EventStoreError):
    """Someone else appended to this aggregate since it was loaded."""

    def __init__(self, aggregate_id: str, version: int):
        super().__init__(f"aggregate {aggregate_id} already has version {version}: reload and retry")
        self.aggregate_id = aggregate_id
        self.version = version


class Contended(EventStoreError):
    """Another transaction on the same items was under way (DynamoDB's TransactionConflict):
    nothing was written, and nothing is known to have been; read again and retry."""


class GuardFailed(EventStoreError):
    """A guard appended with the events had its condition fail; nothing was written."""

    def __init__(self, index: int):
        super().__init__(f"guard {index} of the append failed its condition")
        self.index = index


class EventTooLarge(EventStoreError):
    """An event over what the store's item holds (DynamoDB's 400 KB), or what the bus takes;
    refused here, so that nothing is stored unpublishable."""


class NotInEventStore(EventStoreError):
    """A delivered event that the event store does not hold: at its (aggregateId, version) it
    holds nothing, or another event. Anyone who may put events on the bus could have sent it, so
    a consumer that moves money or stock, or changes a read model or an address, refuses it: it
    is retried, then parked in the consumer's dead letters with this reason."""

    def __init__(self, delivered: Envelope, held: Envelope | None):
        if held is None:
            there = "nothing is stored there"
        elif held.eventId != delivered.eventId:
            there = f"event {held.eventId} is stored there"
        else:
            there = f"it is stored as {held.eventType}, not {delivered.eventType}"
        super().__init__(
            f"event {delivered.eventId} ({delivered.aggregateId}, v{delivered.version}) "
            f"is not in the event store: {there}"
        )
        self.event_id = str(delivered.eventId)


class EventStore:
    def __init__(self, table_name: str, *, client=None, page_size: int = 500):
        self.table_name = table_name
        self._client = client or clients.client("dynamodb")
        self._page_size = page_size

    # ---- write ----------------------------------------------------------------------------

    def append(self, events: Sequence[Envelope], *, together_with: Sequence[dict] = ()) -> None:
        """Append one command's events atomically; each aggregate's among them contiguous.

        `together_with` are further TransactWriteItems actions (on other tables) that must
        succeed with the events or not at all: a uniqueness claim, a stock update, a check that
        another stream has not moved (`absent`). One whose condition fails raises GuardFailed
        with its index.
        """
        if not events:
            return
        self._check_batch(events, len(together_with))
        items = [self._to_item(event) for event in events]
        condition = "attribute_not_exists(aggregateId)"
        try:
            if len(items) == 1 and not together_with:
                self._client.put_item(TableName=self.table_name, Item=items[0], ConditionExpression=condition)
            else:
                puts = [
                    {"Put": {"TableName": self.table_name, "Item": item, "ConditionExpression": condition}}
                    for item in items
                ]
                self._client.transact_write_items(TransactItems=[*puts, *together_with])
        except ClientError as error:
            failed = _failed_conditions(error)
            if any(index >= len(items) for index in failed):
                raise GuardFailed(min(i for i in failed if i >= len(items)) - len(items)) from None
            if failed:
                loser = events[min(failed)]
                raise ConcurrencyError(loser.aggregateId, loser.version) from None
            if _conflicted(error):
                raise Contended(f"a transaction on {events[0].aggregateId} met another under way") from None
            raise

    def absent(self, aggregate_id: str, version: int) -> dict:
        """A check that no event is stored at (aggregate_id, version), to append `together_with`
        events: they are written only while that stream has not reached that version
        (ConditionCheckItem)."""
        return {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": {"aggregateId": {"S": aggregate_id}, "version": {"N": str(version)}},
                "ConditionExpression": "attribute_not_exists(aggregateId)",
            }
        }

    @staticmethod
    def _check_batch(events: Sequence[Envelope], others: int) -> None:
        if len(events) + others > MAX_TRANSACTION_ACTIONS:
            raise EventStoreError(
                f"one command may write at most {MAX_TRANSACTION_ACTIONS} events and actions together with them, "
                f"got {len(events) + others}"
            )
        last_version: dict[str, int] = {}
        for event in events:
            previous = last_version.get(event.aggregateId)
            if previous is not None and event.version != previous + 1:
                raise EventStoreError("each aggregate's events in one append must have contiguous versions")
            last_version[event.aggregateId] = event.version

    @staticmethod
    def _to_item(event: Envelope) -> dict:
        detail = event.to_json()
        source = CATALOG[EventType(event.eventType)].source.value
        size = entry_size(source, event.eventType, detail)
        if size > MAX_ENTRY_BYTES:  # tighter than the item only if the item's limit rises past it
            raise EventTooLarge(f"{event.eventType} is {size} bytes; the bus takes at most {MAX_ENTRY_BYTES}")
        item = {
            "aggregateId": {"S": event.aggregateId},
            "version": {"N": str(event.version)},
            "eventId": {"S": str(event.eventId)},
            "eventType": {"S": event.eventType},
            "source": {"S": source},
            "timestamp": {"S": event.to_detail()["timestamp"]},
            "correlationId": {"S": event.metadata.correlationId},
            "detail": {"S": detail},
        }
        trace = tracing.invocation_header()
        if trace:
            item["traceHeader"] = {"S": trace}
        if (stored := item_size(item)) > MAX_ITEM_BYTES:
            raise EventTooLarge(
                f"{event.eventType} is {size} bytes, {stored} as the event store's item; an item holds at most "
                f"{MAX_ITEM_BYTES} (DynamoDB's 400 KB)"
            )
        return item

    # ---- read -----------------------------------------------------------------------------

    def load(self, aggregate_id: str, *, after_version: int = 0, up_to_version: int | None = None) -> list[Envelope]:
        return list(self.iter_events(aggregate_id, after_version=after_version, up_to_version=up_to_version))

    def iter_events(
        self, aggregate_id: str, *, after_version: int = 0, up_to_version: int | None = None
    ) -> Iterator[Envelope]:
        """An aggregate's events in version order, read page by page (strongly consistent)."""
        key_condition = "aggregateId = :id AND version > :after"
        values: dict = {":id": {"S": aggregate_id}, ":after": {"N": str(after_version)}}
        if up_to_version is not None:
            key_condition = "aggregateId = :id AND version BETWEEN :first AND :last"
            values = {
                ":id": {"S": aggregate_id},
                ":first": {"N": str(after_version + 1)},
                ":last": {"N": str(up_to_version)},
            }
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression=key_condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            PaginationConfig={"PageSize": self._page_size},
        )
        for page in pages:
            for item in page["Items"]:
                yield parse_event(item["detail"]["S"])

    def held(self, event: Envelope, *, consistent: bool = True) -> Envelope:
        """The store's own copy of a delivered event: the event it holds at the delivered event's
        (aggregateId, version), if that is the same event (eventId and eventType). Anything else
        raises NotInEventStore. One strongly consistent read of one item; or, not `consistent`,
        an eventually consistent one (half the price), read again strongly if it does not find
        the event (a copy not yet replicated)."""
        held = self._held_copy(event, consistent)
        if not consistent and not _same(held, event):
            held = self._held_copy(event, True)
        if not _same(held, event):
            raise NotInEventStore(event, held)
        assert held is not None
        return held

    def _held_copy(self, event: Envelope, consistent: bool) -> Envelope | None:
        item = self._client.get_item(
            TableName=self.table_name,
            Key={"aggregateId": {"S": event.aggregateId}, "version": {"N": str(event.version)}},
            ConsistentRead=consistent,
        ).get("Item")
        return parse_event(item["detail"]["S"]) if item else None

    def scan(self, *, event_types: Sequence[str] | None = None) -> Iterator[tuple[int, list[Envelope]]]:
        """Every stored event (of these types), page by page, with the items each page read."""
        pages = self._client.get_paginator("scan").paginate(
            TableName=self.table_name,
            ConsistentRead=True,
            PaginationConfig={"PageSize": self._page_size},
            **_scan_filter(event_types),
        )
        for page in pages:
            yield page["ScannedCount"], [parse_event(item["detail"]["S"]) for item in page["Items"]]

    def approximate_count(self) -> int:
        return self._client.describe_table(TableName=self.table_name)["Table"].get("ItemCount", 0)


def _scan_filter(event_types: Sequence[str] | None) -> dict:
    if not event_types:
        return {}
    names = {f":t{i}": {"S": t} for i, t in enumerate(event_types)}
    return {"FilterExpression": f"eventType IN ({', '.join(names)})", "ExpressionAttributeValues": names}


def _conflicted(error: ClientError) -> bool:
    reasons = error.response.get("CancellationReasons", [])
    return any(reason.get("Code") == "TransactionConflict" for reason in reasons)


def _failed_conditions(error: ClientError) -> list[int]:
    """Indexes of the actions whose condition failed (a single put is index 0)."""
    code = error.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return [0]
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        return [i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
    return []


def _same(held: Envelope | None, event: Envelope) -> bool:
    return held is not None and held.eventId == event.eventId and held.eventType == event.eventType
