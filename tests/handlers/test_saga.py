"""The saga with its partners on moto: payments, all-or-nothing reservations, compensation
writes, and the order's fate appended to its own stream."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest

from catalog import EventType, new_event
from catalog.payloads import InventoryReservationRequested, PaymentRefundRequested, PaymentRequested, ReservedLine
from catalog import Caller
from tests.support import aws, orders


def request(event_type, payload, order_id="order-1", version=1):
    return new_event(event_type, aggregate_id=f"saga:{order_id}", payload=payload, version=version,
                     user_id="order-saga", correlation_id="corr-1", causation_id="cause-1")


def stock(product: str) -> dict:
    item = boto3.client("dynamodb").get_item(TableName=aws.INVENTORY, Key={"productId": {"S": product}})["Item"]
    return {"available": int(item["available"]["N"]), "reserved": int(item["reserved"]["N"])}


@pytest.fixture
def inventory(store):
    from inventory.reservations import Reservations
    from inventory.stock import Stock

    levels = Stock(store, aws.INVENTORY)
    for product, quantity in (("SKU-1", 5), ("SKU-2", 1)):
        levels.set(product, quantity, caller=Caller("ops", "setup"))
    return Reservations(store, aws.INVENTORY)


@pytest.fixture
def payments(store):
    from payments.handler import provider

    return provider()  # as the function builds it: the store's table, the limit of its settings


# ---- payments ------------------------------------------------------------------------------


def test_a_payment_is_charged_once(payments, store):
    ask = request(EventType.PAYMENT_REQUESTED, PaymentRequested(orderId="order-1", customerId="c", amount=Decimal("20.00")))
    assert payments.handle(ask)["outcome"] == "PAYMENT_PROCESSED"
    assert payments.handle(ask)["outcome"] == "already-answered"
    [processed] = store.load("payment:order-1")
    assert processed.payload.amount == Decimal("20.00")
    # asked twice under the order's key: the network moved the money once, and the answer
    # stored is the charge it made
    assert payments.network.requests == ["charge:order-1", "charge:order-1"]
    assert payments.network.moved == {"charge:order-1": Decimal("20.00")}
    assert processed.payload.paymentId == payments.network.charge("charge:order-1", Decimal("20.00"))
    assert processed.metadata.causationId == str(ask.eventId)
    assert processed.metadata.correlationId == "corr-1"


def test_an_amount_over_the_limit_is_declined_with_the_reason(payments, store):
    ask = request(EventType.PAYMENT_REQUESTED, PaymentRequested(orderId="order-1", customerId="c", amount=Decimal("1000.01")))
    assert payments.handle(ask)["outcome"] == "PAYMENT_FAILED"
    assert store.load("payment:order-1")[0].payload.reason == "amount 1000.01 exceeds the card limit of 1000.00"


def test_a_refund_happens_once_and_only_for_a_charge(payments, store):
    ask = request(EventType.PAYMENT_REQUESTED, PaymentRequested(orderId="order-1", customerId="c", amount=Decimal("20.00")))
    payments.handle(ask)
    payment_id = store.load("payment:order-1")[0].payload.paymentId
    refund = request(EventType.PAYMENT_REFUND_REQUESTED, PaymentRefundRequested(
        orderId="order-1", paymentId=payment_id, amount=Decimal("20.00"), reason="out of stock"), version=2)
    wrong = request(EventType.PAYMENT_REFUND_REQUESTED, PaymentRefundRequested(
        orderId="order-1", paymentId="pay-someone-else", amount=Decimal("20.00"), reason="?"), version=2)
    assert payments.handle(wrong)["outcome"] == "nothing-to-refund"  # not this order's charge
    assert payments.handle(refund)["outcome"] == "PAYMENT_REFUNDED"
    assert payments.handle(refund)["outcome"] == "nothing-to-refund"
    stranger = request(EventType.PAYMENT_REFUND_REQUESTED, PaymentRefundRequested(
        orderId="order-2", paymentId="pay-x", amount=Decimal("1.00"), reason="?"), order_id="order-2")
    assert payments.handle(stranger)["outcome"] == "nothing-to-refund"
    assert [e.eventType for e in store.load("payment:order-1")] == ["PAYMENT_PROCESSED", "PAYMENT_REFUNDED"]
    assert payments.network.moved == {"charge:order-1": Decimal("20.00"), f"refund:{payment_id}": Decimal("-20.00")}


def test_a_second_order_is_a_second_charge(payments, store):
    for order in ("order-1", "order-2"):
        payments.handle(request(EventType.PAYMENT_REQUESTED, PaymentRequested(
            orderId=order, customerId="c", amount=Decimal("20.00")), order_id=order))
    ids = {store.load(f"payment:{order}")[0].payload.paymentId for order in ("order-1", "order-2")}
    assert len(ids) == 2
    assert len(payments.network.moved) == 2


# ---- reservations --------------------------------------------------------------------------


def reserve(lines, order_id="order-1"):
    return request(EventType.INVENTORY_RESERVATION_REQUESTED,
                   InventoryReservationRequested(orderId=order_id, lines=tuple(ReservedLine(productId=p, quantity=q)
                                                                                for p, q in lines)), order_id=order_id)


def test_a_reservation_takes_every_line(inventory, store):
    assert inventory.handle(reserve([("SKU-1", 2), ("SKU-2", 1)]))["outcome"] == "reserved"
    assert (stock("SKU-1"), stock("SKU-2")) == ({"available": 3, "reserved": 2}, {"available": 0, "reserved": 1})
    assert store.load("reservation:order-1")[0].eventType == "INVENTORY_UPDATED"
    assert inventory.handle(reserve([("SKU-1", 2), ("SKU-2", 1)]))["outcome"] == "already-answered"
    assert stock("SKU-1") == {"available": 3, "reserved": 2}


def test_one_short_line_reserves_nothing_and_names_the_shortfall(inventory, store):
    result = inventory.handle(reserve([("SKU-1", 2), ("SKU-2", 3), ("SKU-404", 1)]))
    assert result["outcome"] == "insufficient"
    assert (stock("SKU-1"), stock("SKU-2")) == ({"available": 5, "reserved": 0}, {"available": 1, "reserved": 0})
    [insufficient] = store.load("reservation:order-1")
    assert [(l.productId, l.quantity) for l in insufficient.payload.shortLines] == [("SKU-2", 2), ("SKU-404", 1)]


def test_two_orders_racing_for_the_last_unit_get_one_winner(inventory):
    outcomes = [inventory.handle(reserve([("SKU-2", 1)], order_id=o))["outcome"] for o in ("order-a", "order-b")]
    assert sorted(outcomes) == ["insufficient", "reserved"]
    assert stock("SKU-2") == {"available": 0, "reserved": 1}


def test_a_release_gives_the_stock_back_once(inventory, store):
    from catalog.payloads import InventoryReleaseRequested

    inventory.handle(reserve([("SKU-1", 2)]))
    release = request(EventType.INVENTORY_RELEASE_REQUESTED, InventoryReleaseRequested(orderId="order-1"), version=2)
    assert inventory.handle(release)["outcome"] == "released"
    assert inventory.handle(release)["outcome"] == "already-released"
    assert stock("SKU-1") == {"available": 5, "reserved": 0}
    assert [(e.eventType, e.version) for e in store.load("reservation:order-1")] == [
        ("INVENTORY_UPDATED", 1), ("INVENTORY_RELEASED", 2)]


def release_request(order_id="order-1"):
    from catalog.payloads import InventoryReleaseRequested

    return request(EventType.INVENTORY_RELEASE_REQUESTED, InventoryReleaseRequested(orderId=order_id),
                   order_id=order_id, version=2)


def test_each_answer_says_which_order_and_what_happened(inventory, store):
    assert inventory.handle(reserve([("SKU-1", 1)])) == {"orderId": "order-1", "outcome": "reserved"}
    assert inventory.handle(reserve([("SKU-1", 1)])) == {"orderId": "order-1", "outcome": "already-answered"}
    assert inventory.handle(reserve([("SKU-2", 2)], order_id="order-2")) == {
        "orderId": "order-2", "outcome": "insufficient", "short": ["SKU-2"]}
    assert inventory.handle(reserve([("SKU-2", 2)], order_id="order-2")) == {
        "orderId": "order-2", "outcome": "already-answered"}
    assert inventory.handle(release_request()) == {"orderId": "order-1", "outcome": "released"}
    assert inventory.handle(release_request()) == {"orderId": "order-1", "outcome": "already-released"}


def test_only_a_reservation_is_released(inventory, store):
    assert inventory.handle(release_request("never-reserved")) == {
        "orderId": "never-reserved", "outcome": "nothing-to-release"}
    inventory.handle(reserve([("SKU-2", 2)], order_id="short"))  # INVENTORY_INSUFFICIENT: nothing was taken
    assert inventory.handle(release_request("short")) == {"orderId": "short", "outcome": "nothing-to-release"}
    assert stock("SKU-2") == {"available": 1, "reserved": 0}
    assert [e.eventType for e in store.load("reservation:short")] == ["INVENTORY_INSUFFICIENT"]


def test_a_release_gives_back_stock_that_is_all_reserved(inventory):
    inventory.handle(reserve([("SKU-1", 5), ("SKU-2", 1)]))  # nothing left available
    assert inventory.handle(release_request())["outcome"] == "released"
    assert (stock("SKU-1"), stock("SKU-2")) == ({"available": 5, "reserved": 0}, {"available": 1, "reserved": 0})


def test_a_line_with_exactly_enough_is_not_short(inventory, store):
    inventory.handle(reserve([("SKU-1", 5), ("SKU-2", 2)]))
    [insufficient] = store.load("reservation:order-1")
    assert [(line.productId, line.quantity) for line in insufficient.payload.shortLines] == [("SKU-2", 1)]


def test_stock_that_came_back_before_the_shortfall_was_read_names_the_first_line(inventory):
    lines = (ReservedLine(productId="SKU-1", quantity=1), ReservedLine(productId="SKU-2", quantity=1))
    assert inventory._short_lines(lines) == (lines[0],)  # both covered now: the first is named


def test_a_request_causes_its_answer(inventory, store):
    asked = reserve([("SKU-1", 1)])
    inventory.handle(asked)
    [answer] = store.load("reservation:order-1")
    assert (answer.metadata.causationId, answer.metadata.correlationId, answer.metadata.userId) == (
        str(asked.eventId), "corr-1", "inventory")


# ---- the coordinator -----------------------------------------------------------------------


@pytest.fixture
def saga(store):
    from saga.coordinator import SagaCoordinator

    return SagaCoordinator(store)


def saga_stream(store, order_id="order-1"):
    return [(e.eventType, e.version) for e in store.load(f"saga:{order_id}")]


def test_order_created_asks_for_payment_once(saga, store):
    created = orders.created()
    store.append([created])
    result = saga.handle(created)
    assert result["emitted"] == ["PAYMENT_REQUESTED"]
    [requested] = store.load("saga:order-1")
    assert requested.payload.amount == Decimal("44.98")
    assert (requested.metadata.correlationId, requested.metadata.causationId) == ("corr-1", str(created.eventId))
    assert saga.handle(created)["outcome"] == "no-change"  # delivered again: nothing is due
    assert saga_stream(store) == [("PAYMENT_REQUESTED", 1)]


def test_an_order_the_event_store_does_not_hold_starts_no_saga(saga, store):
    result = saga.handle(orders.created(order_id="forged-1"))
    assert result["outcome"] == "ignored"
    assert store.load("saga:forged-1") == []


def test_the_full_happy_path_completes_the_order(saga, store, payments, inventory):
    created = orders.created()
    store.append([created])
    saga.handle(created)
    payments.handle(store.load("saga:order-1")[0])
    saga.handle(store.load("payment:order-1")[0])
    inventory.handle(store.load("saga:order-1")[1])
    saga.handle(store.load("reservation:order-1")[0])
    history = store.load("order-1")
    assert [e.eventType for e in history] == ["ORDER_CREATED", "ORDER_COMPLETED"]
    assert history[1].metadata.causationId == str(store.load("reservation:order-1")[0].eventId)


def test_a_customer_cancel_before_the_reservation_lands_releases_and_refunds(saga, store, payments, inventory):
    from orders.service import OrderService

    created = orders.created()
    store.append([created])
    saga.handle(created)
    payments.handle(store.load("saga:order-1")[0])
    saga.handle(store.load("payment:order-1")[0])
    cancelled = OrderService(store).cancel("order-1", reason="too slow", expected_version=None, caller=Caller("c", "corr-1"))
    inventory.handle(store.load("saga:order-1")[1])  # the reservation lands after the cancel
    result = saga.handle(store.load("reservation:order-1")[0])  # completing would fail: the order is cancelled
    assert result["emitted"] == ["PAYMENT_REFUND_REQUESTED", "INVENTORY_RELEASE_REQUESTED"]
    assert saga.handle(cancelled)["outcome"] == "no-change"
    assert saga.handle(cancelled)["outcome"] == "no-change"
    assert [e.eventType for e in store.load("order-1")] == ["ORDER_CREATED", "ORDER_CANCELLED"]


def project(store, order_id="order-1"):
    """What the projection does with the order's events: the read model (and its pending index)."""
    from projection.projector import OrderProjector
    from orders.read_model import OrdersReadModel

    projector = OrderProjector(OrdersReadModel(aws.ORDERS), store)
    for event in store.load(order_id):
        projector.apply(event)


def test_the_sweep_times_out_a_saga_waiting_too_long(saga, store, lambda_context):
    from saga import sweep

    created = orders.created()
    store.append([created])
    project(store)
    saga.handle(created)
    assert sweep.handler({}, lambda_context)["timedOut"] == []  # not yet five minutes
    result = sweep.handler({"timeoutSeconds": 0}, lambda_context)  # everything waiting is overdue
    assert result["timedOut"] == ["order-1"]
    cancelled = store.load("order-1")[-1]
    assert (cancelled.eventType, cancelled.payload.reason) == ("ORDER_CANCELLED", "timed out waiting for payment")
    project(store)  # settled: out of the pending index
    assert sweep.handler({"timeoutSeconds": -1}, lambda_context)["timedOut"] == []


def test_an_order_enters_the_sweeps_index_once_and_leaves_it_once(saga, store, payments, inventory):
    def pending_since():
        item = boto3.client("dynamodb").get_item(TableName=aws.ORDERS, Key={"orderId": {"S": "order-1"}})["Item"]
        return item.get("pendingSince", {}).get("S")

    created = orders.created()
    store.append([created])
    project(store)
    since = pending_since()
    assert since is not None
    from orders.service import OrderService

    OrderService(store).update_items("order-1", items=created.payload.items[:1], expected_version=1,
                                     caller=Caller("c", "corr-1"))
    project(store)
    assert pending_since() == since  # an update of a pending order leaves its index entry where it is
    saga.handle(created)
    payments.handle(store.load("saga:order-1")[0])
    saga.handle(store.load("payment:order-1")[0])
    inventory.handle(store.load("saga:order-1")[1])
    saga.handle(store.load("reservation:order-1")[0])
    project(store)
    assert pending_since() is None  # completed: out of the index


def test_a_reservation_delivered_twice_reserves_once_with_no_idempotency_record(inventory, store, lambda_context):
    from inventory.handler import handler

    asked = reserve([("SKU-1", 2)])
    store.append([asked])  # the saga's own request: the function acts only on what the store holds
    event = orders.bus_event(asked)
    assert [handler(event, lambda_context)["outcome"] for _ in range(2)] == ["reserved", "already-answered"]
    assert stock("SKU-1") == {"available": 3, "reserved": 2}
    assert boto3.client("dynamodb").scan(TableName=aws.IDEMPOTENCY)["Items"] == []
