"""The event store: conditional appends, atomic multi-event appends, paginated loads."""

from __future__ import annotations

import json
import threading

import pytest

from eventstore.store import ConcurrencyError, EventStore, EventStoreError, EventTooLarge
from tests.support import orders


def test_appended_events_load_back_unchanged_in_version_order(store):
    history = [orders.created(), orders.updated(version=2)]
    for event in history:
        store.append([event])
    assert store.load("order-1") == history


def test_two_writers_of_the_same_version_cannot_both_win(store):
    store.append([orders.created()])
    store.append([orders.updated(version=2, quantity=1)])
    with pytest.raises(ConcurrencyError) as error:
        store.append([orders.updated(version=2, quantity=5)])
    assert error.value.version == 2
    assert [e.payload.items[0].quantity for e in store.load("order-1", after_version=1)] == [1]


def test_racing_threads_produce_exactly_one_winner_per_version(store):
    store.append([orders.created()])
    outcomes: list[str] = []

    def write(quantity: int) -> None:
        try:
            store.append([orders.updated(version=2, quantity=quantity)])
            outcomes.append("won")
        except ConcurrencyError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(q,)) for q in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert len(store.load("order-1")) == 2


def test_several_events_append_atomically(store):
    store.append([orders.created()])
    store.append([orders.updated(version=3)])  # someone already holds version 3
    with pytest.raises(ConcurrencyError):
        store.append([orders.updated(version=2), orders.updated(version=3)])
    # the transaction failed as a whole: version 2 was not written either
    assert [e.version for e in store.load("order-1")] == [1, 3]


def test_a_batch_must_be_contiguous_and_within_the_transaction_limit(store):
    with pytest.raises(EventStoreError, match=r"^each aggregate's events in one append must have contiguous versions$"):
        store.append([orders.created(), orders.updated(version=3)])
    with pytest.raises(EventStoreError, match="contiguous"):
        store.append([orders.created(), orders.created(order_id="other"), orders.updated(version=3)])
    with pytest.raises(EventStoreError, match="at most 100"):
        store.append([orders.updated(version=v) for v in range(2, 103)])


def _cancelled(length: int, like=None):
    """An ORDER_CANCELLED whose reason is `length` characters (past what a command may write: raw)."""
    from catalog import EventType, new_event
    from catalog.payloads import OrderCancelled

    event = new_event(
        EventType.ORDER_CANCELLED,
        aggregate_id="order-1",
        version=1,
        user_id="u",
        correlation_id="c",
        payload=OrderCancelled.model_construct(orderId="order-1", reason="x" * length),
    )
    return event if like is None else event.model_copy(update={"eventId": like.eventId, "timestamp": like.timestamp})


def _stored_size(event) -> int:
    from common.limits import item_size

    return item_size(EventStore._to_item(event))


def test_an_event_the_store_cannot_hold_is_never_stored_and_one_of_300_kb_is(store):
    """DynamoDB's item (400 KB) is the tighter limit since the bus takes 1 MB: 300 KB of reason
    is stored (and published: test_publisher.py); one byte past the item's limit is refused, naming
    it. (moto refuses an item over 405,000 bytes, DynamoDB over 409,600: the limit itself is
    pinned by its arithmetic here, not against moto.)"""
    from common.limits import MAX_ITEM_BYTES

    base = _cancelled(0)
    over = _cancelled(MAX_ITEM_BYTES - _stored_size(base) + 1, like=base)
    with pytest.raises(EventTooLarge, match="an item holds at most 409600"):
        store.append([over])
    assert store.load("order-1") == []
    store.append([_cancelled(300 * 1024, like=base)])
    from tests.support import aws

    assert aws.item_count("test-event-store") == 1  # stored (the reason is past what a command may write, so raw)


def test_load_reads_every_page(tables):
    store = EventStore("test-event-store", page_size=7)
    store.append([orders.created()])
    for first in range(2, 40, 10):
        store.append([orders.updated(version=v) for v in range(first, first + 10)])
    assert [e.version for e in store.load("order-1")] == list(range(1, 42))
    assert [e.version for e in store.load("order-1", after_version=10, up_to_version=12)] == [11, 12]


def test_one_append_may_span_aggregates_all_or_nothing(store):
    store.append([orders.created(order_id="a")])
    with pytest.raises(ConcurrencyError) as error:
        store.append([orders.created(order_id="b"), orders.created(order_id="a")])  # a's v1 is taken
    assert error.value.aggregate_id == "a"
    assert store.load("b") == []
    store.append([orders.created(order_id="b"), orders.updated(order_id="a", version=2)])
    assert [len(store.load(x)) for x in ("a", "b")] == [2, 1]


def test_stored_v1_events_load_as_the_current_version(store):
    import boto3

    from tests.unit.test_schemas import v1_order_created

    detail = v1_order_created()
    boto3.client("dynamodb").put_item(
        TableName="test-event-store",
        Item={
            "aggregateId": {"S": "order-1"},
            "version": {"N": "1"},
            "eventId": {"S": detail["eventId"]},
            "eventType": {"S": "ORDER_CREATED"},
            "source": {"S": "orders.service"},
            "timestamp": {"S": detail["timestamp"]},
            "correlationId": {"S": "corr-1"},
            "detail": {"S": json.dumps(detail)},
        },
    )
    [event] = store.load("order-1")
    assert (event.payload.currency, event.metadata.schemaVersion) == ("EUR", 2)

    from orders.aggregate import Order

    order = Order.replay([event])
    assert order is not None
    assert order.currency == "EUR"


# ---- what the errors say, at the limits --------------------------------------------------


def _claim(key: str) -> dict:
    """A guard: a uniqueness claim on another table, as users.service makes one."""
    return {
        "Put": {
            "TableName": "test-user-emails",
            "Item": {"email": {"S": key}},
            "ConditionExpression": "attribute_not_exists(email)",
        }
    }


def test_a_lost_race_names_the_aggregate_and_the_version(store):
    store.append([orders.created(order_id="a")])
    with pytest.raises(ConcurrencyError, match="aggregate a already has version 1: reload and retry") as error:
        store.append([orders.created(order_id="a")])
    assert (error.value.aggregate_id, error.value.version) == ("a", 1)


def test_a_failed_guard_is_named_by_its_index_and_nothing_is_written(store):
    from eventstore.store import GuardFailed

    store.append([orders.created(order_id="a")], together_with=[_claim("taken@example.com")])
    with pytest.raises(GuardFailed, match="guard 1 of the append failed its condition") as error:
        store.append(
            [orders.created(order_id="b"), orders.created(order_id="c")],
            together_with=[_claim("free@example.com"), _claim("taken@example.com")],
        )
    assert error.value.index == 1
    assert store.load("b") == [] and store.load("c") == []


def test_events_and_guards_together_fill_one_transaction_at_most(store):
    store.append(
        [orders.updated(version=v) for v in range(2, 100)], together_with=[_claim("one"), _claim("two")]
    )  # 100
    assert len(store.load("order-1")) == 98
    with pytest.raises(EventStoreError, match="at most 100 events and actions together with them, got 101"):
        store.append(
            [orders.updated(order_id="b", version=v) for v in range(2, 92)],
            together_with=[_claim(f"g{i}") for i in range(11)],
        )


def test_the_stored_item_keeps_the_envelope_and_what_is_searched_beside_it(store, monkeypatch):
    import boto3

    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    event = orders.created()
    store.append([event])
    item = boto3.client("dynamodb").get_item(
        TableName="test-event-store", Key={"aggregateId": {"S": "order-1"}, "version": {"N": "1"}}
    )["Item"]
    assert {name: value["S"] for name, value in item.items() if name not in ("version", "detail")} == {
        "aggregateId": "order-1",
        "eventId": str(event.eventId),
        "eventType": "ORDER_CREATED",
        "source": "orders.service",
        "timestamp": event.to_detail()["timestamp"],
        "correlationId": "corr-1",
        "traceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
    }
    assert json.loads(item["detail"]["S"]) == json.loads(event.to_json())


def _requests(client, operation: str) -> list[dict]:
    """The parameters of each `operation` request the client sends."""
    sent: list[dict] = []
    client.meta.events.register(
        f"provide-client-params.dynamodb.{operation}", lambda params, **_: sent.append(dict(params))
    )
    return sent


def test_loads_read_strongly_consistent_pages_of_the_configured_size(tables):
    import boto3

    client = boto3.client("dynamodb")
    store = EventStore("test-event-store", client=client, page_size=7)
    store.append([orders.created()])
    store.append([orders.updated(version=v) for v in range(2, 30)])
    queries = _requests(client, "Query")
    assert len(store.load("order-1")) == 29
    assert len(queries) >= 5 and all(q["ConsistentRead"] is True and q["Limit"] == 7 for q in queries)
    queries.clear()
    EventStore("test-event-store", client=client).load("order-1")
    assert [q["Limit"] for q in queries] == [500]  # by default, pages of 500


def test_scan_reads_every_stored_event_of_the_types_asked(tables):
    import boto3

    client = boto3.client("dynamodb")
    store = EventStore("test-event-store", client=client, page_size=2)
    store.append([orders.created(order_id="a"), orders.created(order_id="b")])
    store.append([orders.updated(order_id="a", version=2), orders.cancelled(order_id="a", version=3)])
    scans = _requests(client, "Scan")
    pages = list(store.scan(event_types=["ORDER_CREATED", "ORDER_CANCELLED"]))
    assert sorted((e.aggregateId, e.eventType) for _, page in pages for e in page) == [
        ("a", "ORDER_CANCELLED"),
        ("a", "ORDER_CREATED"),
        ("b", "ORDER_CREATED"),
    ]
    assert sum(scanned for scanned, _ in pages) == 4  # the filter reads every item, and says so
    assert all(s["ConsistentRead"] is True and s["Limit"] == 2 for s in scans) and len(scans) >= 2
    assert sorted(e.version for _, page in store.scan() for e in page) == [1, 1, 2, 3]  # no filter: all
    assert store.approximate_count() == 4


def test_only_failed_conditions_are_taken_for_lost_races():
    from botocore.exceptions import ClientError

    from eventstore.store import _failed_conditions

    def error(code: str, **extra) -> ClientError:
        return ClientError({"Error": {"Code": code}, **extra}, "TransactWriteItems")

    assert _failed_conditions(error("ConditionalCheckFailedException")) == [0]
    reasons = [{"Code": "None"}, {"Code": "ConditionalCheckFailed"}, {"Code": "ConditionalCheckFailed"}]
    assert _failed_conditions(error("TransactionCanceledException", CancellationReasons=reasons)) == [1, 2]
    assert _failed_conditions(error("TransactionCanceledException")) == []
    assert _failed_conditions(error("ProvisionedThroughputExceededException")) == []
    assert _failed_conditions(ClientError({}, "PutItem")) == []


def test_an_eventually_consistent_miss_is_read_again_strongly_and_a_hit_is_not(store, monkeypatch):
    """held(consistent=False) pays half a read for the usual case, a copy already replicated; a
    copy not yet there (AWS only: moto is always consistent, so the stub's first answer stands
    in) is read again strongly rather than refused as not the store's."""
    event = orders.created()
    store.append([event])
    get_item = store._client.get_item
    reads: list[bool] = []
    replicated = {"yet": False}

    def read(**kwargs):
        reads.append(kwargs["ConsistentRead"])
        return get_item(**kwargs) if kwargs["ConsistentRead"] or replicated["yet"] else {}

    monkeypatch.setattr(store._client, "get_item", read)
    assert store.held(event, consistent=False) == event
    assert reads == [False, True]
    reads.clear()
    replicated["yet"] = True
    assert store.held(event, consistent=False) == event
    assert reads == [False]
