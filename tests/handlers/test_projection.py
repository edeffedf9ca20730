"""The orders projection: the read model follows the event store exactly once, in order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.aggregate import Order
from projection.projector import MissingHistory, Outcome, OrderProjector
from projection.read_model import OrdersReadModel
from tests.support import aws, orders


@pytest.fixture
def read_model(tables):
    return OrdersReadModel(aws.ORDERS)


@pytest.fixture
def projector(read_model, store):
    return OrderProjector(read_model, store)


def stored(store, *events):
    for event in events:
        store.append([event])
    return events


def test_created_then_updated_then_cancelled(projector, read_model, store):
    created, updated, cancelled = stored(store, orders.created(), orders.updated(), orders.cancelled(reason="late"))
    for event in (created, updated, cancelled):
        assert projector.apply(event) is Outcome.APPLIED
    view = read_model.get("order-1")
    assert view.order.version == 3
    assert view.order.status == "CANCELLED"
    assert view.order.cancelReason == "late"
    assert view.order.totalAmount == Decimal("59.97")
    assert view.createdAt == created.timestamp
    assert view.updatedAt == cancelled.timestamp


def test_an_event_applied_twice_changes_nothing(projector, read_model, store):
    created, updated = stored(store, orders.created(), orders.updated())
    projector.apply(created)
    projector.apply(updated)
    before = read_model.get("order-1")
    assert projector.apply(updated) is Outcome.ALREADY_APPLIED
    assert projector.apply(created) is Outcome.ALREADY_APPLIED
    assert read_model.get("order-1") == before


def test_an_older_event_never_overwrites_a_newer_state(projector, read_model, store):
    created, updated, cancelled = stored(store, orders.created(), orders.updated(), orders.cancelled())
    projector.apply(cancelled)  # arrives first: versions 1 and 2 are read from the store
    assert read_model.get("order-1").order.version == 3
    assert projector.apply(updated) is Outcome.ALREADY_APPLIED
    assert projector.apply(created) is Outcome.ALREADY_APPLIED
    assert read_model.get("order-1").order.status == "CANCELLED"


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 0, 2), (2, 0, 1)])
def test_any_delivery_order_ends_in_the_same_state(projector, read_model, store, order):
    history = stored(store, orders.created(), orders.updated(), orders.cancelled())
    for index in order:
        projector.apply(history[index])
    assert read_model.get("order-1").order == Order.replay(history)


def test_an_event_ahead_of_the_store_is_retried_not_applied(projector, read_model, store):
    stored(store, orders.created())
    with pytest.raises(MissingHistory, match="v3 arrived before v1..v2, and the event store has 1 of those 2"):
        projector.apply(orders.cancelled(version=3))
    assert read_model.get("order-1") is None


def test_the_handler_reads_the_envelope_from_the_bus_event(tables, store, lambda_context):
    from projection.handler import handler

    [created] = stored(store, orders.created())
    result = handler(orders.bus_event(created), lambda_context)
    assert result == {"orderId": "order-1", "version": 1, "outcome": "applied"}
    assert OrdersReadModel(aws.ORDERS).get("order-1").order.customerId == "cust-1"


def test_the_handler_fails_loudly_on_a_malformed_event(tables, lambda_context):
    from pydantic import ValidationError
    from projection.handler import handler

    event = orders.bus_event(orders.created())
    event["detail"]["payload"]["totalAmount"] = "1.00"
    with pytest.raises(ValidationError, match="does not equal the sum"):
        handler(event, lambda_context)
    assert aws.item_count(aws.ORDERS) == 0
