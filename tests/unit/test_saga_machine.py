"""The saga's transition table: every state and event, duplicates and reordering."""

from __future__ import annotations

from decimal import Decimal
from itertools import permutations

import pytest

from catalog import EventType
from catalog.payloads import (
    InventoryInsufficient,
    InventoryReleased,
    InventoryUpdated,
    OrderCancelled,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    ReservedLine,
)
from saga.machine import TIMEOUT, Compensation, SagaState, Status, Step, decide, merged_lines
from tests.support import orders

O = "order-1"
LINES = (ReservedLine(productId="SKU-1", quantity=2), ReservedLine(productId="SKU-2", quantity=1))
E = EventType
EVENTS = {
    E.ORDER_CREATED: orders.created().payload,
    E.PAYMENT_PROCESSED: PaymentProcessed(orderId=O, paymentId="pay-1", amount=Decimal("44.98")),
    E.PAYMENT_FAILED: PaymentFailed(orderId=O, reason="card limit"),
    E.INVENTORY_UPDATED: InventoryUpdated(orderId=O, lines=LINES),
    E.INVENTORY_INSUFFICIENT: InventoryInsufficient(orderId=O, shortLines=(ReservedLine(productId="SKU-1", quantity=1),)),
    E.ORDER_CANCELLED: OrderCancelled(orderId=O, reason="customer changed mind"),
    E.PAYMENT_REFUNDED: PaymentRefunded(orderId=O, paymentId="pay-1", amount=Decimal("44.98")),
    E.INVENTORY_RELEASED: InventoryReleased(orderId=O, lines=LINES),
}


def run(*steps, state: SagaState | None = None):
    """Feed events in order; return the final state and every command and order action."""
    state = state or SagaState(orderId=O, correlationId="corr-1")
    commands, actions = [], []
    for step in steps:
        decision = decide(state, step, EVENTS.get(step))
        state = decision.state
        commands += [t for t, _ in decision.commands]
        actions += (["cancel"] if decision.cancel_order else []) + (["complete"] if decision.complete_order else [])
    return state, commands, actions


def test_happy_path_pays_reserves_and_completes():
    state, commands, actions = run(E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED)
    assert commands == [E.PAYMENT_REQUESTED, E.INVENTORY_RESERVATION_REQUESTED]
    assert actions == ["complete"]
    assert (state.status, state.step, state.charged, state.reserved) == (Status.COMPLETED, Step.DONE, True, True)


def test_a_declined_payment_cancels_the_order_with_the_reason():
    state, commands, actions = run(E.ORDER_CREATED, E.PAYMENT_FAILED)
    assert commands == [E.PAYMENT_REQUESTED]
    assert actions == ["cancel"]
    assert state.status is Status.CANCELLED
    assert state.cancelReason == "payment declined: card limit"


def test_insufficient_stock_refunds_and_cancels():
    state, commands, actions = run(E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.INVENTORY_INSUFFICIENT, E.PAYMENT_REFUNDED)
    assert commands[-1] == E.PAYMENT_REFUND_REQUESTED
    assert actions == ["cancel"]
    assert state.cancelReason == "insufficient stock: SKU-1 short by 1"
    assert (state.refund, state.release) == (Compensation.DONE, Compensation.NONE)


@pytest.mark.parametrize(
    ("before_cancel", "after_cancel", "refund", "release"),
    [
        ([E.ORDER_CREATED], [E.PAYMENT_FAILED], Compensation.NONE, Compensation.NONE),
        ([E.ORDER_CREATED], [E.PAYMENT_PROCESSED], Compensation.REQUESTED, Compensation.NONE),
        ([E.ORDER_CREATED, E.PAYMENT_PROCESSED], [E.INVENTORY_UPDATED], Compensation.REQUESTED, Compensation.REQUESTED),
        ([E.ORDER_CREATED, E.PAYMENT_PROCESSED], [E.INVENTORY_INSUFFICIENT], Compensation.REQUESTED, Compensation.NONE),
    ],
)
def test_a_customer_cancellation_mid_saga_undoes_what_was_done(before_cancel, after_cancel, refund, release):
    state, commands, actions = run(*before_cancel, E.ORDER_CANCELLED, *after_cancel)
    assert "complete" not in actions and "cancel" not in actions  # the customer already cancelled
    assert (state.status, state.refund, state.release) == (Status.CANCELLED, refund, release)
    assert commands.count(E.PAYMENT_REFUND_REQUESTED) == (refund is not Compensation.NONE)
    assert commands.count(E.INVENTORY_RELEASE_REQUESTED) == (release is not Compensation.NONE)


@pytest.mark.parametrize("stuck_after", [[E.ORDER_CREATED], [E.ORDER_CREATED, E.PAYMENT_PROCESSED]])
def test_a_step_that_times_out_cancels_and_compensates(stuck_after):
    state, commands, actions = run(*stuck_after, TIMEOUT)
    assert actions == ["cancel"]
    assert state.status is Status.CANCELLED and not state.waiting
    assert state.cancelReason.startswith("timed out waiting for")
    charged = E.PAYMENT_PROCESSED in stuck_after
    assert (E.PAYMENT_REFUND_REQUESTED in commands) is charged
    # the late answer to the step that timed out is compensated too
    late = E.INVENTORY_UPDATED if charged else E.PAYMENT_PROCESSED
    _, late_commands, late_actions = run(late, state=state)
    assert late_actions == []
    assert late_commands == [E.INVENTORY_RELEASE_REQUESTED if charged else E.PAYMENT_REFUND_REQUESTED]


def test_finished_sagas_do_not_time_out():
    for path in ([E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED], [E.ORDER_CREATED, E.PAYMENT_FAILED]):
        state, _, _ = run(*path)
        assert not decide(state, TIMEOUT).changed


@pytest.mark.parametrize("event", list(EVENTS))
def test_every_event_delivered_twice_acts_once(event):
    paths = {
        E.ORDER_CREATED: [], E.PAYMENT_PROCESSED: [E.ORDER_CREATED], E.PAYMENT_FAILED: [E.ORDER_CREATED],
        E.INVENTORY_UPDATED: [E.ORDER_CREATED, E.PAYMENT_PROCESSED],
        E.INVENTORY_INSUFFICIENT: [E.ORDER_CREATED, E.PAYMENT_PROCESSED],
        E.ORDER_CANCELLED: [E.ORDER_CREATED, E.PAYMENT_PROCESSED],
        E.PAYMENT_REFUNDED: [E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.ORDER_CANCELLED],
        E.INVENTORY_RELEASED: [E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED],
    }
    state, _, _ = run(*paths[event], event)
    again = decide(state, event, EVENTS[event])
    assert not again.changed
    assert again.state == state


def test_a_cancellation_that_overtakes_creation_never_charges():
    state, commands, actions = run(E.ORDER_CANCELLED, E.ORDER_CREATED)
    assert commands == [] and actions == []
    assert state.status is Status.CANCELLED


@pytest.mark.parametrize("order", list(permutations([E.PAYMENT_REFUNDED, E.INVENTORY_RELEASED])))
def test_compensations_confirm_in_any_order(order):
    state, _, _ = run(E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED, E.ORDER_CANCELLED, *order)
    assert (state.refund, state.release) == (Compensation.DONE, Compensation.DONE)


def test_no_event_moves_a_saga_backwards():
    completed, _, _ = run(E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.INVENTORY_UPDATED)
    for late in (E.ORDER_CREATED, E.PAYMENT_PROCESSED, E.PAYMENT_FAILED, E.INVENTORY_INSUFFICIENT):
        decision = decide(completed, late, EVENTS[late])
        assert decision.state.status is Status.COMPLETED and not decision.changed


def test_lines_of_one_product_are_reserved_as_one():
    from catalog.payloads import OrderItem

    items = (OrderItem(productId="A", quantity=1, price=Decimal("1")), OrderItem(productId="A", quantity=2, price=Decimal("2")))
    assert merged_lines(items) == (ReservedLine(productId="A", quantity=3),)
