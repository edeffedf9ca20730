"""The orders projection: the read model follows the event store exactly once, in order."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from orders.aggregate import Order
from orders.read_model import OrdersReadModel
from projection.projector import MissingHistory, OrderProjector, Outcome
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
    with pytest.raises(MissingHistory, match=r"v3 arrived before v1\.\.v2, and the event store has 1 of those 2"):
        projector.apply(orders.cancelled(version=3))
    assert read_model.get("order-1") is None


def test_the_handler_reads_the_envelope_from_the_bus_event(tables, store, lambda_context):
    from projection.handler import handler

    [created] = stored(store, orders.created())
    result = handler(orders.bus_event(created), lambda_context)
    assert result == {"orderId": "order-1", "version": 1, "outcome": "applied"}
    view = OrdersReadModel(aws.ORDERS).get("order-1")
    assert view is not None
    assert view.order.customerId == "cust-1"


def test_the_handler_fails_loudly_on_a_malformed_event(tables, lambda_context):
    from pydantic import ValidationError

    from projection.handler import handler

    event = orders.bus_event(orders.created())
    event["detail"]["payload"]["totalAmount"] = "1.00"
    with pytest.raises(ValidationError, match="does not equal the sum"):
        handler(event, lambda_context)
    assert aws.item_count(aws.ORDERS) == 0


# ---- what the API reads, and how the read model refuses to go back --------------------------


def test_the_api_body_is_the_order_with_money_as_text_and_times_in_utc(projector, read_model, store):
    (created,) = stored(store, orders.created())
    projector.apply(created)
    body = read_model.get("order-1").to_api()
    stamp = created.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert body == {
        "orderId": "order-1",
        "customerId": "cust-1",
        "currency": "EUR",
        "status": "PENDING",
        "version": 1,
        "cancelReason": None,
        "totalAmount": "44.98",
        "createdAt": stamp,
        "updatedAt": stamp,
        "payment": {"state": "NONE", "captured": "0.00", "refunded": "0.00"},
        "items": [
            {"productId": "SKU-1", "quantity": 2, "price": "19.99"},
            {"productId": "SKU-2", "quantity": 1, "price": "5.00"},
        ],
    }
    assert stamp.endswith("Z") and "+00:00" not in stamp


def test_an_order_stored_before_currencies_reads_as_euros(read_model):
    import boto3

    boto3.client("dynamodb").put_item(
        TableName=aws.ORDERS,
        Item={
            "orderId": {"S": "old"},
            "customerId": {"S": "c"},
            "status": {"S": "PENDING"},
            "version": {"N": "1"},
            "items": {"L": [{"M": {"productId": {"S": "SKU-1"}, "quantity": {"N": "1"}, "price": {"N": "1.50"}}}]},
            "totalAmount": {"N": "1.50"},
            "createdAt": {"S": "2026-01-01T00:00:00+00:00"},
            "updatedAt": {"S": "2026-01-01T00:00:00+00:00"},
        },
    )
    assert read_model.get("old").order.currency == "EUR"


def test_a_rebuild_writes_only_what_is_newer(read_model, store):
    from orders.read_model import OrderView

    history = stored(store, orders.created(), orders.updated(), orders.cancelled())
    first, second, third = (OrderView.folded(list(history[:n])) for n in (1, 2, 3))
    assert read_model.save_if_newer(second) is True  # absent: written
    assert read_model.save_if_newer(first) is False and read_model.save_if_newer(second) is False
    assert read_model.get("order-1").order.version == 2
    assert read_model.save_if_newer(third) is True
    assert read_model.get("order-1").order.status == "CANCELLED"


def test_a_write_only_succeeds_from_the_version_it_read(read_model, store):
    from orders.read_model import OrderView, StaleWrite

    history = stored(store, orders.created(), orders.updated())
    first, second = OrderView.folded([history[0]]), OrderView.folded(list(history))
    read_model.save(first, previous=None)
    with pytest.raises(StaleWrite, match="order-1"):
        read_model.save(first, previous=None)  # it is no longer absent
    with pytest.raises(StaleWrite, match="order-1"):
        read_model.save(second, previous=second)
    read_model.save(second, previous=first)
    assert read_model.get("order-1").order.version == 2


def test_a_failure_other_than_a_lost_race_is_not_taken_for_one(store):
    from botocore.exceptions import ClientError

    from orders.read_model import OrderView

    (created,) = stored(store, orders.created())
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        OrdersReadModel("no-such-table").save(OrderView.folded([created]), previous=None)


def test_a_write_lost_to_another_delivery_is_tried_again_then_given_up(projector, read_model, store, monkeypatch):
    from orders.read_model import StaleWrite

    (created,) = stored(store, orders.created())
    save = read_model.save
    lost: list[int] = []

    def lose_first(view, *, previous):
        if not lost:
            lost.append(view.order.version)
            raise StaleWrite(view.order.orderId)
        save(view, previous=previous)

    monkeypatch.setattr(read_model, "save", lose_first)
    assert projector.apply(created) is Outcome.APPLIED and lost == [1]
    monkeypatch.setattr(read_model, "save", lambda view, *, previous: (_ for _ in ()).throw(StaleWrite("x")))
    (updated,) = stored(store, orders.updated())
    with pytest.raises(StaleWrite, match="order order-1 kept changing during 5 attempts"):
        projector.apply(updated)


def test_an_event_far_ahead_catches_up_on_exactly_the_versions_missing(projector, read_model, store):
    history = stored(
        store, orders.created(), orders.updated(), orders.updated(version=3, quantity=4), orders.cancelled(version=4)
    )
    assert projector.apply(history[1]) is Outcome.CAUGHT_UP  # v1 read from the store
    assert projector.apply(history[3]) is Outcome.CAUGHT_UP  # v3 read, not v1 or v2 again
    view = read_model.get("order-1")
    assert (view.order.version, view.order.status, view.order.items[0].quantity) == (4, "CANCELLED", 4)


def test_an_order_keeps_its_currency_through_the_read_model(projector, read_model, store):
    (created,) = stored(store, orders.created(currency="USD"))
    projector.apply(created)
    assert read_model.get("order-1").order.currency == "USD"
    assert read_model.get("order-1").to_api()["currency"] == "USD"


# ---- the order's money, from its payment's answers -------------------------------------------


def payment_answers(store, order_id="order-1", *, refund: bool = True, amount="44.98"):
    """The payment stream's answers as Payments writes them: a charge, then (maybe) its refund."""
    from decimal import Decimal

    from catalog import EventType, new_event
    from catalog.payloads import PaymentProcessed, PaymentRefunded

    def answer(event_type, payload, version):
        return new_event(
            event_type,
            aggregate_id=f"payment:{order_id}",
            payload=payload,
            version=version,
            user_id="payments",
            correlation_id="corr-1",
        )

    charged = answer(
        EventType.PAYMENT_PROCESSED,
        PaymentProcessed(currency="EUR", orderId=order_id, paymentId="pay-1", amount=Decimal(amount)),
        1,
    )
    events = [charged]
    if refund:
        events.append(
            answer(
                EventType.PAYMENT_REFUNDED,
                PaymentRefunded(currency="EUR", orderId=order_id, paymentId="pay-1", amount=Decimal(amount)),
                2,
            )
        )
    return stored(store, *events)


def money(read_model, order_id="order-1") -> dict:
    return read_model.get(order_id).to_api()["payment"]


@pytest.mark.parametrize("order_first", [True, False])
def test_the_read_model_shows_what_was_captured_and_refunded_in_any_order(projector, read_model, store, order_first):
    created, cancelled = stored(store, orders.created(), orders.cancelled(version=2))
    charged, refunded = payment_answers(store)
    deliveries = [created, cancelled, refunded, charged] if order_first else [refunded, charged, cancelled, created]
    for event in deliveries:
        projector.apply(event)
        projector.apply(event)  # delivered twice: applied once
    view = read_model.get("order-1").to_api()
    assert (view["status"], view["version"]) == ("CANCELLED", 2)
    assert view["payment"] == {"state": "REFUNDED", "captured": "44.98", "refunded": "44.98", "currency": "EUR"}


def test_a_payment_answer_before_the_order_was_projected_projects_the_order_first(projector, read_model, store):
    from projection.projector import Outcome

    (created,) = stored(store, orders.created())
    (charged,) = payment_answers(store, refund=False)
    assert projector.apply(charged) is Outcome.CAUGHT_UP
    assert read_model.get("order-1").to_api()["status"] == "PENDING"
    assert money(read_model) == {"state": "CAPTURED", "captured": "44.98", "refunded": "0.00", "currency": "EUR"}
    assert projector.apply(created) is Outcome.ALREADY_APPLIED
    assert projector.apply(charged) is Outcome.ALREADY_APPLIED


def test_an_order_event_keeps_the_money_and_a_payment_answer_keeps_the_order(projector, read_model, store):
    created, updated = stored(store, orders.created(), orders.updated())
    charged, refunded = payment_answers(store)
    for event in (created, charged, updated, refunded):
        projector.apply(event)
    view = read_model.get("order-1").to_api()
    assert (view["version"], view["totalAmount"]) == (2, "59.97")
    assert view["payment"] == {"state": "REFUNDED", "captured": "44.98", "refunded": "44.98", "currency": "EUR"}


def test_a_rebuild_brings_back_the_money_too(read_model, store):
    from catalog import EventType
    from catalog.payloads import OrderCompleted
    from ops.rebuild import rebuild

    completed = orders._event(EventType.ORDER_COMPLETED, "order-1", OrderCompleted(orderId="order-1"), 2)
    stored(store, orders.created(), completed)
    payment_answers(store, refund=False)
    rebuild(store, read_model, out=io.StringIO())
    assert money(read_model) == {"state": "CAPTURED", "captured": "44.98", "refunded": "0.00", "currency": "EUR"}
    assert rebuild(store, read_model, out=io.StringIO())["written"] == 0  # as new as it gets


def completion(order_id="order-1", version=2):
    from catalog import EventType
    from catalog.payloads import OrderCompleted

    return orders._event(EventType.ORDER_COMPLETED, order_id, OrderCompleted(orderId=order_id), version)


def test_a_completed_order_keeps_the_charge_it_was_completed_after(projector, read_model, store):
    """The saga completes an order once its charge is captured: the completion, projected after
    the charge (as it is for every completed order), keeps the money on the read model."""
    created, completed = stored(store, orders.created(), completion())
    (charged,) = payment_answers(store, refund=False)
    for event in (created, charged, completed):
        projector.apply(event)
    view = read_model.get("order-1").to_api()
    assert (view["status"], view["version"]) == ("COMPLETED", 2)
    assert view["payment"] == {"state": "CAPTURED", "captured": "44.98", "refunded": "0.00", "currency": "EUR"}


def test_a_declined_payment_shows_as_declined(projector, read_model, store):
    from catalog import EventType, new_event
    from catalog.payloads import PaymentFailed

    (created,) = stored(store, orders.created())
    (declined,) = stored(
        store,
        new_event(
            EventType.PAYMENT_FAILED,
            aggregate_id="payment:order-1",
            payload=PaymentFailed(orderId="order-1", reason="card declined"),
            version=1,
            user_id="payments",
            correlation_id="corr-1",
        ),
    )
    for event in (created, declined):
        projector.apply(event)
    assert money(read_model) == {"state": "DECLINED", "captured": "0.00", "refunded": "0.00"}


def test_a_payment_answer_moves_the_orders_updated_at_to_its_own_time(projector, read_model, store):
    from datetime import timedelta

    (created,) = stored(store, orders.created())
    projector.apply(created)
    (charged,) = payment_answers(store, refund=False)
    assert charged.timestamp > created.timestamp or pytest.skip("the answer was made in the order's millisecond")
    projector.apply(charged)
    shown = read_model.get("order-1")
    assert shown.updatedAt == charged.timestamp and shown.createdAt == created.timestamp
    assert shown.updatedAt - shown.createdAt < timedelta(minutes=1)


def test_an_order_write_read_before_a_payment_answer_loses_to_it(read_model, store):
    """The order's events and its payment's answers write one item: a write of the order made
    from a copy read before an answer was written is refused, never writes the money away."""
    from orders.read_model import OrderView, StaleWrite

    history = stored(store, orders.created(), orders.updated())
    (charged,) = payment_answers(store, refund=False)
    first = OrderView.folded([history[0]])
    read_model.save(first, previous=None)
    read_model.save(first.paid([charged]), previous=first)  # the answer, written
    with pytest.raises(StaleWrite, match="order-1"):
        read_model.save(OrderView.folded([history[1]], onto=first), previous=first)  # from the copy before it
    assert money(read_model)["state"] == "CAPTURED"


def test_a_rebuild_brings_a_refund_the_read_model_missed(projector, read_model, store):
    from ops.rebuild import rebuild

    created, completed = stored(store, orders.created(), completion())
    charged, _refunded = payment_answers(store)
    for event in (created, completed, charged):  # the refund never projected
        projector.apply(event)
    assert money(read_model)["state"] == "CAPTURED"
    assert rebuild(store, read_model, out=io.StringIO())["written"] == 1
    assert money(read_model) == {"state": "REFUNDED", "captured": "44.98", "refunded": "44.98", "currency": "EUR"}
