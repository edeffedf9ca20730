"""The saga's decision: what is due from what the event store holds of an order, under every
order of delivery, duplicates, cancellations and timeouts."""

from __future__ import annotations

from decimal import Decimal
from itertools import permutations

import pytest

from catalog import EventType, new_event
from catalog.payloads import (
    InventoryInsufficient,
    InventoryReleased,
    InventoryUpdated,
    OrderCancelled,
    OrderCompleted,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    ReservedLine,
)
from saga.machine import Facts, decide, merged_lines
from tests.support import orders

O = "order-1"
LINES = (ReservedLine(productId="SKU-1", quantity=2), ReservedLine(productId="SKU-2", quantity=1))
E = EventType
# What another party writes, and on which stream of the order.
ANSWERS = {
    E.PAYMENT_PROCESSED: (
        "payment",
        PaymentProcessed(currency="EUR", orderId=O, paymentId="pay-1", amount=Decimal("44.98")),
    ),
    E.PAYMENT_FAILED: ("payment", PaymentFailed(orderId=O, reason="card limit")),
    E.PAYMENT_REFUNDED: (
        "payment",
        PaymentRefunded(currency="EUR", orderId=O, paymentId="pay-1", amount=Decimal("44.98")),
    ),
    E.INVENTORY_UPDATED: ("reservation", InventoryUpdated(orderId=O, lines=LINES)),
    E.INVENTORY_INSUFFICIENT: (
        "reservation",
        InventoryInsufficient(orderId=O, shortLines=(ReservedLine(productId="SKU-1", quantity=1),)),
    ),
    E.INVENTORY_RELEASED: ("reservation", InventoryReleased(orderId=O, lines=LINES)),
    E.ORDER_CANCELLED: ("order", OrderCancelled(orderId=O, reason="customer changed mind")),
}
TIMEOUT = "TIMEOUT"


class Order:
    """One order's streams, and the saga woken after each thing that happens to them."""

    def __init__(self):
        self.facts = Facts(order=[orders.created()])
        self.commands: list[EventType] = []
        self.actions: list[str] = []

    def append(self, stream: str, event_type: EventType, payload) -> None:
        events = getattr(self.facts, "commands" if stream == "saga" else stream)
        events.append(
            new_event(
                event_type,
                aggregate_id=f"{stream}:{O}",
                payload=payload,
                version=len(events) + 1,
                user_id="test",
                correlation_id="corr-1",
            )
        )

    def happen(self, what) -> None:
        if what != TIMEOUT:
            self.append(*ANSWERS[what][0:1], what, ANSWERS[what][1])
        self.wake(timed_out=what == TIMEOUT)

    def wake(self, timed_out: bool = False) -> None:
        decision = decide(self.facts, timed_out=timed_out)
        for event_type, payload in decision.commands:
            self.append("saga", event_type, payload)
            self.commands.append(event_type)
        if decision.cancel_order:
            self.append("order", E.ORDER_CANCELLED, OrderCancelled(orderId=O, reason=decision.cancel_order))
            self.actions.append("cancel")
        if decision.complete_order:
            self.append("order", E.ORDER_COMPLETED, OrderCompleted(orderId=O))
            self.actions.append("complete")

    @property
    def cancel_reason(self) -> str | None:
        cancelled = [e for e in self.facts.order if e.eventType == E.ORDER_CANCELLED]
        return cancelled[0].payload.reason if cancelled else None


def run(*steps) -> Order:
    order = Order()
    order.wake()  # ORDER_CREATED reaches the saga
    for step in steps:
        order.happen(step)
    return order


def test_happy_path_pays_reserves_and_completes():
    order = run(E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED)
    assert order.commands == [E.PAYMENT_REQUESTED, E.INVENTORY_RESERVATION_REQUESTED]
    assert order.actions == ["complete"]
    [reserve] = [e for e in order.facts.commands if e.eventType == E.INVENTORY_RESERVATION_REQUESTED]
    created = order.facts.created
    assert created is not None
    assert reserve.payload.lines == merged_lines(created.payload.items)


def test_a_declined_payment_cancels_the_order_with_the_reason():
    order = run(E.PAYMENT_FAILED)
    assert order.commands == [E.PAYMENT_REQUESTED]
    assert order.actions == ["cancel"]
    assert order.cancel_reason == "payment declined: card limit"


def test_insufficient_stock_refunds_and_cancels():
    order = run(E.PAYMENT_PROCESSED, E.INVENTORY_INSUFFICIENT, E.PAYMENT_REFUNDED)
    assert order.commands[-1] == E.PAYMENT_REFUND_REQUESTED
    assert order.actions == ["cancel"]
    assert order.cancel_reason == "insufficient stock: SKU-1 short by 1"
    [refund] = [e for e in order.facts.commands if e.eventType == E.PAYMENT_REFUND_REQUESTED]
    assert (refund.payload.paymentId, refund.payload.amount) == ("pay-1", Decimal("44.98"))


def test_every_short_line_is_named_in_the_reason(monkeypatch):
    two_short = InventoryInsufficient(
        orderId=O, shortLines=(ReservedLine(productId="SKU-1", quantity=1), ReservedLine(productId="SKU-2", quantity=3))
    )
    monkeypatch.setitem(ANSWERS, E.INVENTORY_INSUFFICIENT, ("reservation", two_short))
    order = run(E.PAYMENT_PROCESSED, E.INVENTORY_INSUFFICIENT)
    assert order.cancel_reason == "insufficient stock: SKU-1 short by 1, SKU-2 short by 3"


@pytest.mark.parametrize(
    ("before_cancel", "after_cancel", "refunds", "releases"),
    [
        ([], [E.PAYMENT_FAILED], 0, 0),
        ([], [E.PAYMENT_PROCESSED], 1, 0),
        ([E.PAYMENT_PROCESSED], [E.INVENTORY_UPDATED], 1, 1),
        ([E.PAYMENT_PROCESSED], [E.INVENTORY_INSUFFICIENT], 1, 0),
    ],
)
def test_a_customer_cancellation_mid_saga_undoes_what_was_done(before_cancel, after_cancel, refunds, releases):
    order = run(*before_cancel, E.ORDER_CANCELLED, *after_cancel)
    assert order.actions == []  # the customer cancelled: the saga neither completes nor cancels again
    assert order.commands.count(E.PAYMENT_REFUND_REQUESTED) == refunds
    assert order.commands.count(E.INVENTORY_RELEASE_REQUESTED) == releases
    refund = [e for e in order.facts.commands if e.eventType == E.PAYMENT_REFUND_REQUESTED]
    assert all(e.payload.reason == "customer changed mind" for e in refund)


@pytest.mark.parametrize("stuck_after", [[], [E.PAYMENT_PROCESSED]])
def test_a_step_that_times_out_cancels_and_compensates(stuck_after):
    order = run(*stuck_after, TIMEOUT)
    assert order.actions == ["cancel"]
    charged = E.PAYMENT_PROCESSED in stuck_after
    assert order.cancel_reason == f"timed out waiting for {'stock reservation' if charged else 'payment'}"
    assert (E.PAYMENT_REFUND_REQUESTED in order.commands) is charged
    # the late answer to the step that timed out is compensated too
    late = E.INVENTORY_UPDATED if charged else E.PAYMENT_PROCESSED
    before = list(order.commands)
    order.happen(late)
    assert order.actions == ["cancel"]
    assert order.commands[len(before) :] == [E.INVENTORY_RELEASE_REQUESTED if charged else E.PAYMENT_REFUND_REQUESTED]


def test_settled_orders_do_not_time_out():
    for path in ([E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED], [E.PAYMENT_FAILED]):
        order = run(*path)
        assert not decide(order.facts, timed_out=True).changed


def test_an_order_answered_but_not_yet_moved_is_not_timed_out_but_moved():
    order = run()
    order.append("payment", E.PAYMENT_PROCESSED, ANSWERS[E.PAYMENT_PROCESSED][1])  # its event still on the bus
    decision = decide(order.facts, timed_out=True)
    assert decision.cancel_order is None
    assert [t for t, _ in decision.commands] == [E.INVENTORY_RESERVATION_REQUESTED]


@pytest.mark.parametrize("event", list(ANSWERS))
def test_waking_the_saga_again_changes_nothing(event):
    paths = {
        E.PAYMENT_PROCESSED: [],
        E.PAYMENT_FAILED: [],
        E.INVENTORY_UPDATED: [E.PAYMENT_PROCESSED],
        E.INVENTORY_INSUFFICIENT: [E.PAYMENT_PROCESSED],
        E.ORDER_CANCELLED: [E.PAYMENT_PROCESSED],
        E.PAYMENT_REFUNDED: [E.PAYMENT_PROCESSED, E.ORDER_CANCELLED],
        E.INVENTORY_RELEASED: [E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED],
    }
    order = run(*paths[event], event)
    assert not decide(order.facts).changed  # a duplicate delivery, or any other wake-up


def test_no_order_of_answers_asks_anything_twice_or_leaves_anything_undone():
    """The customer's cancel and every answer, in every order of arrival."""
    for arrival in permutations([E.PAYMENT_PROCESSED, E.ORDER_CANCELLED, E.INVENTORY_UPDATED]):
        order = run()
        for step in arrival:
            if step == E.INVENTORY_UPDATED and E.INVENTORY_RESERVATION_REQUESTED not in order.commands:
                continue  # inventory answers only what it was asked
            if step == E.ORDER_CANCELLED and "complete" in order.actions:
                continue  # the order refuses a cancel once completed
            order.happen(step)
        order.wake()
        assert len(order.commands) == len(set(order.commands)), arrival
        assert not decide(order.facts).changed, arrival
        charged = any(e.eventType == E.PAYMENT_PROCESSED for e in order.facts.payment)
        cancelled = order.cancel_reason is not None
        reserved = any(e.eventType == E.INVENTORY_UPDATED for e in order.facts.reservation)
        assert (E.PAYMENT_REFUND_REQUESTED in order.commands) is (charged and cancelled), arrival
        assert (E.INVENTORY_RELEASE_REQUESTED in order.commands) is (reserved and cancelled), arrival


def test_an_order_the_store_does_not_hold_moves_nothing():
    assert not decide(Facts()).changed
    assert not decide(Facts(), timed_out=True).changed


def test_lines_of_one_product_are_reserved_as_one():
    from catalog.payloads import OrderItem

    items = (
        OrderItem(productId="A", quantity=1, price=Decimal("1")),
        OrderItem(productId="A", quantity=2, price=Decimal("2")),
    )
    assert merged_lines(items) == (ReservedLine(productId="A", quantity=3),)


def test_the_payment_is_asked_in_the_orders_currency_and_refunded_in_the_charges():
    order = Order()
    order.facts.order = [orders.created(currency="SEK")]
    order.wake()
    [asked] = order.facts.commands
    assert (asked.payload.amount, asked.payload.currency) == (Decimal("44.98"), "SEK")
    order.append(
        "payment",
        E.PAYMENT_PROCESSED,
        PaymentProcessed(currency="SEK", orderId=O, paymentId="pay-1", amount=Decimal("44.98")),
    )
    order.happen(E.ORDER_CANCELLED)
    refund = order.facts.commands[-1]
    assert (refund.eventType, refund.payload.amount, refund.payload.currency) == (
        E.PAYMENT_REFUND_REQUESTED,
        Decimal("44.98"),
        "SEK",
    )


def test_a_charge_in_another_currency_than_the_orders_is_not_its_payment():
    order = Order()
    order.facts.order = [orders.created(currency="SEK")]
    order.wake()
    order.append(
        "payment",
        E.PAYMENT_PROCESSED,
        PaymentProcessed(currency="EUR", orderId=O, paymentId="pay-1", amount=Decimal("44.98")),
    )
    order.wake()
    assert order.cancel_reason == "payment of 44.98 EUR does not match the order's total of 44.98 SEK"
    assert order.commands[-1] == E.PAYMENT_REFUND_REQUESTED


def test_a_usd_order_charged_before_payments_named_their_currency_is_refunded_in_euros():
    """A v1 charge named no currency: the card network charged the amount in its own, euros. A
    USD order in flight at the deploy was charged in the wrong currency: it is not the order's
    payment, so the saga cancels the order and refunds the euros (docs/DECISIONS.md)."""
    import json

    from catalog import parse_event

    def as_v1(event):
        data = json.loads(event.to_json())
        data["payload"].pop("currency")
        data["metadata"]["schemaVersion"] = 1
        return parse_event(data)

    order = Order()
    order.facts.order = [orders.created(currency="USD")]
    order.wake()
    order.facts.commands = [as_v1(order.facts.commands[0])]
    order.facts.payment = [
        as_v1(
            new_event(
                E.PAYMENT_PROCESSED,
                aggregate_id=f"payment:{O}",
                version=1,
                user_id="payments",
                correlation_id="c",
                payload=PaymentProcessed(currency="USD", orderId=O, paymentId="pay-1", amount=Decimal("44.98")),
            )
        )
    ]
    order.wake()
    assert order.cancel_reason == "payment of 44.98 EUR does not match the order's total of 44.98 USD"
    refund = order.facts.commands[-1]
    assert (refund.eventType, refund.payload.currency) == (E.PAYMENT_REFUND_REQUESTED, "EUR")
