"""The Order aggregate: commands respect its invariants, and replay rebuilds its state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.payloads import OrderItem
from orders.aggregate import InvalidTransition, Order, OrderStatus, UnexpectedEvent
from tests.support import orders


def test_create_computes_the_exact_total():
    created = Order.create(order_id="o1", customer_id="c1", items=orders.ITEMS)
    assert created.totalAmount == Decimal("44.98")


def test_replay_rebuilds_state_from_history():
    order = Order.replay([orders.created(), orders.updated(quantity=3), orders.cancelled(reason="too slow")])
    assert order is not None
    assert order.version == 3
    assert order.status is OrderStatus.CANCELLED
    assert order.cancelReason == "too slow"
    assert order.totalAmount == Decimal("59.97")
    assert [(i.productId, i.quantity) for i in order.items] == [("SKU-1", 3)]


def test_replay_of_nothing_is_no_order():
    assert Order.replay([]) is None


def test_update_replaces_lines_and_total():
    order = Order.replay([orders.created()])
    assert order is not None
    update = order.update_items([OrderItem(productId="SKU-9", quantity=4, price=Decimal("2.50"))])
    assert update.totalAmount == Decimal("10.00")


@pytest.mark.parametrize("command", ["update", "cancel", "complete"])
@pytest.mark.parametrize("history", ["cancelled", "completed"])
def test_a_closed_order_refuses_every_command(command, history):
    closing = orders.cancelled(version=2) if history == "cancelled" else _completed()
    order = Order.replay([orders.created(), closing])
    assert order is not None
    actions = {
        "update": lambda: order.update_items(orders.ITEMS),
        "cancel": lambda: order.cancel("again"),
        "complete": order.complete,
    }
    with pytest.raises(InvalidTransition, match=f"^cannot {command} order order-1: it is {history}$"):
        actions[command]()


def _completed():
    from catalog import EventType, new_event
    from catalog.payloads import OrderCompleted

    return new_event(
        EventType.ORDER_COMPLETED,
        aggregate_id="order-1",
        payload=OrderCompleted(orderId="order-1"),
        version=2,
        user_id="saga",
        correlation_id="corr-1",
    )


def test_a_gap_in_the_history_is_an_error_not_a_silent_skip():
    with pytest.raises(UnexpectedEvent, match="version 1, got version 3"):
        Order.replay([orders.created(), orders.cancelled(version=3)])


def test_history_must_start_with_creation():
    with pytest.raises(
        UnexpectedEvent, match=r"^an order starts with ORDER_CREATED at version 1, not ORDER_UPDATED v1$"
    ):
        Order.replay([orders.updated(version=1)])


def test_a_second_creation_cannot_follow_the_first():
    with pytest.raises(UnexpectedEvent, match=r"^ORDER_CREATED cannot follow the creation of order order-1$"):
        Order.replay([orders.created(), orders.created(version=2)])


def test_an_order_keeps_the_currency_it_was_placed_in():
    order = Order.replay([orders.created(currency="GBP")])
    assert order is not None
    assert order.currency == "GBP"
