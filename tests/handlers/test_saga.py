"""The saga with its partners on moto: payments, all-or-nothing reservations, compensation
writes, and the order's fate appended to its own stream."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest

from catalog import Caller, Envelope, EventType, new_event
from catalog.payloads import InventoryReservationRequested, PaymentRefundRequested, PaymentRequested, ReservedLine
from tests.support import aws, orders


def request(event_type, payload, order_id="order-1", version=1):
    return new_event(
        event_type,
        aggregate_id=f"saga:{order_id}",
        payload=payload,
        version=version,
        user_id="order-saga",
        correlation_id="corr-1",
        causation_id="cause-1",
    )


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
    ask = request(
        EventType.PAYMENT_REQUESTED,
        PaymentRequested(currency="EUR", orderId="order-1", customerId="c", amount=Decimal("20.00")),
    )
    assert payments.handle(ask)["outcome"] == "PAYMENT_PROCESSED"
    assert payments.handle(ask)["outcome"] == "already-answered"
    [processed] = store.load("payment:order-1")
    assert processed.payload.amount == Decimal("20.00")
    # delivered twice: the network was called once (the second found the answer), and the
    # answer stored is the charge it made
    assert payments.network.requests == ["charge:order-1"]
    assert payments.network.moved == {"charge:order-1": Decimal("20.00")}
    assert processed.payload.paymentId == payments.network.charge("charge:order-1", Decimal("20.00"), "EUR")
    assert processed.metadata.causationId == str(ask.eventId)
    assert processed.metadata.correlationId == "corr-1"


def test_an_amount_over_the_limit_is_declined_with_the_reason(payments, store):
    ask = request(
        EventType.PAYMENT_REQUESTED,
        PaymentRequested(currency="EUR", orderId="order-1", customerId="c", amount=Decimal("1000.01")),
    )
    assert payments.handle(ask)["outcome"] == "PAYMENT_FAILED"
    assert store.load("payment:order-1")[0].payload.reason == "amount 1000.01 EUR exceeds the card limit of 1000.00 EUR"


@pytest.mark.parametrize(
    ("currency", "amount", "answer"),
    [
        ("SEK", "1200.00", "PAYMENT_PROCESSED"),  # about 104 euros: the limit in kronor is 11,500.00
        ("SEK", "11500.01", "amount 11500.01 SEK exceeds the card limit of 11500.00 SEK"),
        ("EUR", "1200.00", "amount 1200.00 EUR exceeds the card limit of 1000.00 EUR"),
        ("JPY", "10.00", "the card network does not charge in JPY"),
    ],
)
def test_a_payment_is_charged_in_its_currency_against_the_cards_limit_in_it(payments, store, currency, amount, answer):
    ask = request(
        EventType.PAYMENT_REQUESTED,
        PaymentRequested(currency=currency, orderId="order-1", customerId="c", amount=Decimal(amount)),
    )
    payments.handle(ask)
    [stored] = store.load("payment:order-1")
    if answer == "PAYMENT_PROCESSED":
        assert (stored.eventType, stored.payload.amount, stored.payload.currency) == (answer, Decimal(amount), currency)
    else:
        assert (stored.eventType, stored.payload.reason) == ("PAYMENT_FAILED", answer)


def test_every_currency_an_order_is_taken_in_has_a_card_limit():
    from catalog.types import SUPPORTED_CURRENCIES
    from payments.provider import CARD_LIMIT_RATES

    assert set(SUPPORTED_CURRENCIES) == set(CARD_LIMIT_RATES)


def test_a_refund_in_another_currency_than_its_charge_pays_nothing(payments, store):
    from payments.provider import RefundExceedsCharge

    payments.handle(
        request(
            EventType.PAYMENT_REQUESTED,
            PaymentRequested(currency="SEK", orderId="order-1", customerId="c", amount=Decimal("100.00")),
        )
    )
    payment_id = store.load("payment:order-1")[0].payload.paymentId
    in_euros = request(
        EventType.PAYMENT_REFUND_REQUESTED,
        PaymentRefundRequested(
            currency="EUR", orderId="order-1", paymentId=payment_id, amount=Decimal("100.00"), reason="?"
        ),
        version=2,
    )
    with pytest.raises(RefundExceedsCharge, match=r"asks 100\.00 EUR, more than payment .* charged \(100\.00 SEK\)"):
        payments.handle(in_euros)
    assert [e.eventType for e in store.load("payment:order-1")] == ["PAYMENT_PROCESSED"]


def test_a_refund_happens_once_and_only_for_a_charge(payments, store):
    ask = request(
        EventType.PAYMENT_REQUESTED,
        PaymentRequested(currency="EUR", orderId="order-1", customerId="c", amount=Decimal("20.00")),
    )
    payments.handle(ask)
    payment_id = store.load("payment:order-1")[0].payload.paymentId
    refund = request(
        EventType.PAYMENT_REFUND_REQUESTED,
        PaymentRefundRequested(
            currency="EUR", orderId="order-1", paymentId=payment_id, amount=Decimal("20.00"), reason="out of stock"
        ),
        version=2,
    )
    wrong = request(
        EventType.PAYMENT_REFUND_REQUESTED,
        PaymentRefundRequested(
            currency="EUR", orderId="order-1", paymentId="pay-someone-else", amount=Decimal("20.00"), reason="?"
        ),
        version=2,
    )
    assert payments.handle(wrong)["outcome"] == "nothing-to-refund"  # not this order's charge
    assert payments.handle(refund)["outcome"] == "PAYMENT_REFUNDED"
    assert payments.handle(refund)["outcome"] == "nothing-to-refund"
    stranger = request(
        EventType.PAYMENT_REFUND_REQUESTED,
        PaymentRefundRequested(
            currency="EUR", orderId="order-2", paymentId="pay-x", amount=Decimal("1.00"), reason="?"
        ),
        order_id="order-2",
    )
    assert payments.handle(stranger)["outcome"] == "nothing-to-refund"
    assert [e.eventType for e in store.load("payment:order-1")] == ["PAYMENT_PROCESSED", "PAYMENT_REFUNDED"]
    assert payments.network.moved == {"charge:order-1": Decimal("20.00"), f"refund:{payment_id}": Decimal("-20.00")}


def test_a_second_order_is_a_second_charge(payments, store):
    for order in ("order-1", "order-2"):
        payments.handle(
            request(
                EventType.PAYMENT_REQUESTED,
                PaymentRequested(currency="EUR", orderId=order, customerId="c", amount=Decimal("20.00")),
                order_id=order,
            )
        )
    ids = {store.load(f"payment:{order}")[0].payload.paymentId for order in ("order-1", "order-2")}
    assert len(ids) == 2
    assert len(payments.network.moved) == 2


# ---- reservations --------------------------------------------------------------------------


def reserve(lines, order_id="order-1"):
    return request(
        EventType.INVENTORY_RESERVATION_REQUESTED,
        InventoryReservationRequested(
            orderId=order_id, lines=tuple(ReservedLine(productId=p, quantity=q) for p, q in lines)
        ),
        order_id=order_id,
    )


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
    short = [(line.productId, line.quantity) for line in insufficient.payload.shortLines]
    assert short == [("SKU-2", 2), ("SKU-404", 1)]


def test_two_orders_racing_for_the_last_unit_get_one_winner(inventory):
    outcomes = [inventory.handle(reserve([("SKU-2", 1)], order_id=o))["outcome"] for o in ("order-a", "order-b")]
    assert sorted(outcomes) == ["insufficient", "reserved"]
    assert stock("SKU-2") == {"available": 0, "reserved": 1}


def test_a_release_gives_the_stock_back_once(inventory, store):
    from catalog.payloads import InventoryReleaseRequested

    inventory.handle(reserve([("SKU-1", 2)]))
    release = request(EventType.INVENTORY_RELEASE_REQUESTED, InventoryReleaseRequested(orderId="order-1"), version=2)
    assert inventory.handle(release)["outcome"] == "released"
    assert inventory.handle(release)["outcome"] == "already-ended"
    assert stock("SKU-1") == {"available": 5, "reserved": 0}
    assert [(e.eventType, e.version) for e in store.load("reservation:order-1")] == [
        ("INVENTORY_UPDATED", 1),
        ("INVENTORY_RELEASED", 2),
    ]


def release_request(order_id="order-1"):
    from catalog.payloads import InventoryReleaseRequested

    return request(
        EventType.INVENTORY_RELEASE_REQUESTED, InventoryReleaseRequested(orderId=order_id), order_id=order_id, version=2
    )


def test_each_answer_says_which_order_and_what_happened(inventory, store):
    assert inventory.handle(reserve([("SKU-1", 1)])) == {"orderId": "order-1", "outcome": "reserved"}
    assert inventory.handle(reserve([("SKU-1", 1)])) == {"orderId": "order-1", "outcome": "already-answered"}
    assert inventory.handle(reserve([("SKU-2", 2)], order_id="order-2")) == {
        "orderId": "order-2",
        "outcome": "insufficient",
        "short": ["SKU-2"],
    }
    assert inventory.handle(reserve([("SKU-2", 2)], order_id="order-2")) == {
        "orderId": "order-2",
        "outcome": "already-answered",
    }
    assert inventory.handle(release_request()) == {"orderId": "order-1", "outcome": "released"}
    assert inventory.handle(release_request()) == {"orderId": "order-1", "outcome": "already-ended"}


def test_only_a_reservation_is_released(inventory, store):
    assert inventory.handle(release_request("never-reserved")) == {
        "orderId": "never-reserved",
        "outcome": "nothing-to-release",
    }
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
        str(asked.eventId),
        "corr-1",
        "inventory",
    )


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
    cancelled = OrderService(store).cancel(
        "order-1", reason="too slow", expected_version=None, caller=Caller("c", "corr-1")
    )
    inventory.handle(store.load("saga:order-1")[1])  # the reservation lands after the cancel
    result = saga.handle(store.load("reservation:order-1")[0])  # completing would fail: the order is cancelled
    assert result["emitted"] == ["PAYMENT_REFUND_REQUESTED", "INVENTORY_RELEASE_REQUESTED"]
    assert saga.handle(cancelled)["outcome"] == "no-change"
    assert saga.handle(cancelled)["outcome"] == "no-change"
    assert [e.eventType for e in store.load("order-1")] == ["ORDER_CREATED", "ORDER_CANCELLED"]


def project(store, order_id="order-1"):
    """What the projection does with the order's events: the read model (and its pending index)."""
    from orders.read_model import OrdersReadModel
    from projection.projector import OrderProjector

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

    OrderService(store).update_items(
        "order-1", items=created.payload.items[:1], expected_version=1, caller=Caller("c", "corr-1")
    )
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


# ---- a changed order: charged for what it became, closed once its payment is asked ------------


def run_to_the_end(saga, store, payments, inventory, order_id="order-1"):
    """Every command of the saga answered and every answer handed back, until nothing is due."""
    handled: set[str] = set()
    for _ in range(10):
        due = [
            e
            for stream in (f"saga:{order_id}", f"payment:{order_id}", f"reservation:{order_id}")
            for e in store.load(stream)
            if str(e.eventId) not in handled
        ]
        if not due:
            return
        for event in due:
            handled.add(str(event.eventId))
            if event.aggregateId.startswith("saga:"):
                (payments if event.eventType.startswith("PAYMENT") else inventory).handle(event)
            else:
                saga.handle(event)


def money_and_stock(store, payments, order_id="order-1"):
    """What the customer paid (captured less refunded) and what the order holds of the stock."""
    paid = sum(payments.network.moved.values(), Decimal("0.00"))
    reservation = [e.eventType for e in store.load(f"reservation:{order_id}")]
    reserved = (
        store.load(f"reservation:{order_id}")[0].payload.lines if reservation[:1] == ["INVENTORY_UPDATED"] else ()
    )
    released = "INVENTORY_RELEASED" in reservation
    return paid, {line.productId: line.quantity for line in reserved} if not released else {}


def test_an_order_changed_before_its_payment_is_asked_is_charged_and_reserved_as_changed(
    saga, store, payments, inventory
):
    from orders.service import OrderService

    created = orders.created()
    store.append([created])
    OrderService(store).update_items(
        "order-1", items=orders.updated(quantity=3).payload.items, expected_version=1, caller=Caller("cust-1", "corr-1")
    )
    saga.handle(created)  # ORDER_CREATED reaches the saga after the change: it charges the order as it is
    run_to_the_end(saga, store, payments, inventory)
    assert [e.eventType for e in store.load("order-1")][-1] == "ORDER_COMPLETED"
    assert money_and_stock(store, payments) == (Decimal("59.97"), {"SKU-1": 3})


def test_once_its_payment_is_asked_an_order_cannot_be_changed_and_completes_as_charged(
    saga, store, payments, inventory
):
    """Placed 1 x 19.99 then changed to 40 x 24.00 was completed at 960.00 with 19.99 charged and
    one unit reserved: now the change is a 409 that says why, and nothing of it is written."""
    from orders.aggregate import InvalidTransition
    from orders.service import OrderClosed, OrderService

    created = orders.created()
    store.append([created])
    saga.handle(created)
    bigger = (orders.OrderItem(productId="SKU-1", quantity=40, price=Decimal("24.00")),)
    with pytest.raises(OrderClosed, match="payment has been requested, so its lines are closed; cancel it") as refused:
        OrderService(store).update_items("order-1", items=bigger, expected_version=1, caller=Caller("cust-1", "c"))
    assert isinstance(refused.value, InvalidTransition)  # the API's 409
    assert [e.eventType for e in store.load("order-1")] == ["ORDER_CREATED"]
    run_to_the_end(saga, store, payments, inventory)
    assert [e.eventType for e in store.load("order-1")] == ["ORDER_CREATED", "ORDER_COMPLETED"]
    assert money_and_stock(store, payments) == (Decimal("44.98"), {"SKU-1": 2, "SKU-2": 1})


def test_a_change_and_the_payments_request_racing_cannot_both_win(saga, store, payments, inventory, monkeypatch):
    """The saga read the order at version 1 and is about to ask for its payment when the
    customer's change lands: its request is refused by the order's new version, and it reads
    again and asks for the new total. The other way round (the change read the order before the
    request landed) the change is refused: test above."""
    from orders.service import OrderService

    created = orders.created()
    store.append([created])
    real_facts = saga.facts
    raced: list[Envelope] = []

    def facts_then_a_change(order_id):
        found = real_facts(order_id)
        if not raced:
            raced.append(
                OrderService(store).update_items(
                    "order-1",
                    items=orders.updated(quantity=1).payload.items,
                    expected_version=1,
                    caller=Caller("c", "c"),
                )
            )
        return found

    monkeypatch.setattr(saga, "facts", facts_then_a_change)
    assert saga.handle(created)["emitted"] == ["PAYMENT_REQUESTED"]
    assert raced and store.load("saga:order-1")[0].payload.amount == Decimal("19.99")
    monkeypatch.undo()
    run_to_the_end(saga, store, payments, inventory)
    assert money_and_stock(store, payments) == (Decimal("19.99"), {"SKU-1": 1})


def test_a_change_that_read_the_order_before_the_request_landed_is_refused(saga, store, monkeypatch):
    from eventstore.store import EventStore
    from orders.service import OrderClosed, OrderService

    created = orders.created()
    store.append([created])
    service = OrderService(store)
    real_load = OrderService.load

    def load_then_the_request(self, order_id, **kw):
        order = real_load(self, order_id, **kw)  # the change reads version 1, no request yet
        saga.handle(created)  # then the saga asks for the payment of 44.98
        return order

    monkeypatch.setattr(OrderService, "load", load_then_the_request)
    with pytest.raises(OrderClosed):
        service.update_items(
            "order-1", items=orders.updated(quantity=1).payload.items, expected_version=1, caller=Caller("c", "c")
        )
    assert [e.eventType for e in EventStore(aws.EVENT_STORE).load("order-1")] == ["ORDER_CREATED"]
    assert store.load("saga:order-1")[0].payload.amount == Decimal("44.98")


def test_an_order_stored_with_lines_no_reservation_holds_is_cancelled_uncharged(saga, store, payments, inventory):
    """Stored before the API refused it (two lines of 6,000 units of one product): the saga
    cancels it with the reason, and asks for no payment (it used to charge, then fail for ever)."""
    from catalog import EventType as Types
    from catalog.payloads import OrderCreated

    line = orders.OrderItem(productId="SKU-1", quantity=6000, price=Decimal("0.05"))
    created = new_event(
        Types.ORDER_CREATED,
        aggregate_id="order-1",
        version=1,
        user_id="cust-1",
        correlation_id="c",
        payload=OrderCreated(
            orderId="order-1", customerId="cust-1", items=(line, line), totalAmount=Decimal("600.00"), currency="EUR"
        ),
    )
    store.append([created])
    assert saga.handle(created)["order"] == "cancelled"
    [cancelled] = store.load("order-1")[1:]
    assert (
        cancelled.payload.reason
        == "cannot be fulfilled: a product's quantity over its lines is more than one reservation takes (10000)"
    )
    assert store.load("saga:order-1") == [] and payments.network.requests == []
