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
    with pytest.raises(EventStoreError, match="contiguous"):
        store.append([orders.created(), orders.updated(version=3)])
    with pytest.raises(EventStoreError, match="contiguous"):
        store.append([orders.created(), orders.created(order_id="other"), orders.updated(version=3)])
    with pytest.raises(EventStoreError, match="at most 100"):
        store.append([orders.updated(version=v) for v in range(2, 103)])


def test_an_event_the_bus_would_refuse_is_never_stored(store):
    from catalog import EventType, new_event
    from catalog.payloads import OrderCancelled

    huge = new_event(
        EventType.ORDER_CANCELLED,
        aggregate_id="order-1",
        payload=OrderCancelled.model_construct(orderId="order-1", reason="x" * 300_000),
        version=1,
        user_id="u",
        correlation_id="c",
    )
    with pytest.raises(EventTooLarge, match="at most 262144"):
        store.append([huge])
    assert store.load("order-1") == []


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
    boto3.client("dynamodb").put_item(TableName="test-event-store", Item={
        "aggregateId": {"S": "order-1"}, "version": {"N": "1"}, "eventId": {"S": detail["eventId"]},
        "eventType": {"S": "ORDER_CREATED"}, "source": {"S": "orders.service"}, "timestamp": {"S": detail["timestamp"]},
        "correlationId": {"S": "corr-1"}, "detail": {"S": json.dumps(detail)},
    })
    [event] = store.load("order-1")
    assert (event.payload.currency, event.metadata.schemaVersion) == ("EUR", 2)

    from orders.aggregate import Order

    assert Order.replay([event]).currency == "EUR"
