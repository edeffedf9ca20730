"""The saga's decision (saga/machine.py), woken in any order, any number of times, while the
payment service, the stock and the customer answer or act in any order: every run ends with the
order completed or cancelled, never both; no command is asked twice; nothing is charged,
reserved, refunded or released twice; and a cancelled order gives back what it took.

The participants are modelled as the functions behave: each answers a request at most once (its
answer is the first version of its own stream, written only if absent), and the saga's steps are
appended the same way, so a wake-up that finds a command already asked cannot ask it again."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from catalog import Envelope, EventType, new_event
from catalog.payloads import (
    InventoryInsufficient,
    InventoryReleased,
    InventoryUpdated,
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderItem,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    ReservedLine,
)
from saga.machine import Facts, decide
from tests.support.properties import examples

ORDER = "order-1"
ITEMS = (OrderItem(productId="SKU-1", quantity=2, price=Decimal("9.99")),)
TOTAL = Decimal("19.98")
LINES = (ReservedLine(productId="SKU-1", quantity=2),)


def event(event_type: EventType, payload, version: int, stream: str = ORDER) -> Envelope:
    return new_event(
        event_type, aggregate_id=stream, payload=payload, version=version, user_id="test", correlation_id="corr-1"
    )


def _owed(asked: EventType, stream: str, *answers: EventType):
    """A precondition: the saga asked for this, and the stream holds no answer to it yet."""
    return lambda self: self.facts.asked(asked) and not self._has(getattr(self.facts, stream), *answers)


PAYMENT_OWED = _owed(EventType.PAYMENT_REQUESTED, "payment", EventType.PAYMENT_PROCESSED, EventType.PAYMENT_FAILED)
REFUND_OWED = _owed(EventType.PAYMENT_REFUND_REQUESTED, "payment", EventType.PAYMENT_REFUNDED)
RESERVATION_OWED = _owed(
    EventType.INVENTORY_RESERVATION_REQUESTED,
    "reservation",
    EventType.INVENTORY_UPDATED,
    EventType.INVENTORY_INSUFFICIENT,
)
RELEASE_OWED = _owed(EventType.INVENTORY_RELEASE_REQUESTED, "reservation", EventType.INVENTORY_RELEASED)


class Saga(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.facts = Facts(
            order=[
                event(
                    EventType.ORDER_CREATED,
                    OrderCreated(orderId=ORDER, customerId="cust-1", currency="EUR", items=ITEMS, totalAmount=TOTAL),
                    1,
                )
            ]
        )

    # ---- appends, each written only if absent, as the event store's condition makes them --------

    def _append(self, stream: list[Envelope], event_type: EventType, payload, name: str) -> None:
        stream.append(event(event_type, payload, len(stream) + 1, name))

    def _has(self, stream: list[Envelope], *types: EventType) -> bool:
        return any(e.eventType in types for e in stream)

    # ---- the saga, woken by any event at any time (duplicates, late and reordered ones) ----------

    @rule(timed_out=st.booleans())
    def wake_the_saga(self, timed_out):
        decision = decide(self.facts, timed_out=timed_out)
        for command_type, payload in decision.commands:
            assert not self._has(self.facts.commands, command_type), f"{command_type} asked twice"
            self._append(self.facts.commands, command_type, payload, f"saga:{ORDER}")
        if decision.cancel_order and not self._has(
            self.facts.order, EventType.ORDER_CANCELLED, EventType.ORDER_COMPLETED
        ):
            self._append(
                self.facts.order,
                EventType.ORDER_CANCELLED,
                OrderCancelled(orderId=ORDER, reason=decision.cancel_order),
                ORDER,
            )
        if decision.complete_order and not self._has(
            self.facts.order, EventType.ORDER_CANCELLED, EventType.ORDER_COMPLETED
        ):
            self._append(self.facts.order, EventType.ORDER_COMPLETED, OrderCompleted(orderId=ORDER), ORDER)

    # ---- the participants: each answers what it was asked, once ----------------------------------

    @precondition(PAYMENT_OWED)
    @rule(accepted=st.booleans())
    def the_card_network_answers(self, accepted):
        if accepted:
            self._append(
                self.facts.payment,
                EventType.PAYMENT_PROCESSED,
                PaymentProcessed(currency="EUR", orderId=ORDER, paymentId="pay-1", amount=TOTAL),
                f"payment:{ORDER}",
            )
        else:
            self._append(
                self.facts.payment,
                EventType.PAYMENT_FAILED,
                PaymentFailed(orderId=ORDER, reason="card declined"),
                f"payment:{ORDER}",
            )

    @precondition(REFUND_OWED)
    @rule()
    def the_card_network_refunds(self):
        self._append(
            self.facts.payment,
            EventType.PAYMENT_REFUNDED,
            PaymentRefunded(currency="EUR", orderId=ORDER, paymentId="pay-1", amount=TOTAL),
            f"payment:{ORDER}",
        )

    @precondition(RESERVATION_OWED)
    @rule(in_stock=st.booleans())
    def the_stock_answers(self, in_stock):
        if in_stock:
            self._append(
                self.facts.reservation,
                EventType.INVENTORY_UPDATED,
                InventoryUpdated(orderId=ORDER, lines=LINES),
                f"reservation:{ORDER}",
            )
        else:
            self._append(
                self.facts.reservation,
                EventType.INVENTORY_INSUFFICIENT,
                InventoryInsufficient(orderId=ORDER, shortLines=LINES),
                f"reservation:{ORDER}",
            )

    @precondition(RELEASE_OWED)
    @rule()
    def the_stock_releases(self):
        self._append(
            self.facts.reservation,
            EventType.INVENTORY_RELEASED,
            InventoryReleased(orderId=ORDER, lines=LINES),
            f"reservation:{ORDER}",
        )

    @precondition(lambda self: not self._has(self.facts.order, EventType.ORDER_CANCELLED, EventType.ORDER_COMPLETED))
    @rule()
    def the_customer_cancels(self):
        self._append(
            self.facts.order, EventType.ORDER_CANCELLED, OrderCancelled(orderId=ORDER, reason="changed my mind"), ORDER
        )

    # ---- what must hold at every step, and at the end ----------------------------------------------

    @invariant()
    def never_completed_and_cancelled(self):
        assert not (self.facts.completed and self.facts.cancelled)

    @invariant()
    def nothing_asked_or_done_twice(self):
        for stream in (self.facts.commands, self.facts.payment, self.facts.reservation, self.facts.order):
            types = [e.eventType for e in stream]
            assert len(types) == len(set(types)), types

    @invariant()
    def completed_only_when_paid_and_reserved(self):
        if self.facts.completed:
            assert self.facts.charge is not None and self.facts.reserved

    def _pending_answers(self) -> list:
        """What the participants still owe: each request asked and not yet answered (the rules'
        own preconditions), answered the way that lets the order go on."""
        answers = (
            (PAYMENT_OWED, lambda: self.the_card_network_answers(accepted=True)),
            (REFUND_OWED, self.the_card_network_refunds),
            (RESERVATION_OWED, lambda: self.the_stock_answers(in_stock=True)),
            (RELEASE_OWED, self.the_stock_releases),
        )
        return [answer for owed, answer in answers if owed(self)]

    def _settle(self, timed_out: bool) -> None:
        for _ in range(10):  # each pass answers what is owed and wakes the saga on it
            self.wake_the_saga(timed_out=timed_out)
            owed = self._pending_answers()
            if not owed:
                return
            for answer in owed:
                answer()
        raise AssertionError("the saga and its participants never came to rest")

    def teardown(self):
        # The deliveries still to come arrive (every request answered, the saga woken after each,
        # and by the timeout sweep); then the order has settled, and given back what it took.
        self._settle(timed_out=False)
        self._settle(timed_out=True)
        self.nothing_asked_or_done_twice()
        self.never_completed_and_cancelled()
        assert self.facts.completed or self.facts.cancelled, "the order never settled"
        if self.facts.cancelled:
            if self.facts.charge is not None:
                assert self._has(self.facts.payment, EventType.PAYMENT_REFUNDED)
            if self.facts.reserved:
                assert self._has(self.facts.reservation, EventType.INVENTORY_RELEASED)
        else:
            assert not self.facts.asked(EventType.PAYMENT_REFUND_REQUESTED)
            assert not self.facts.asked(EventType.INVENTORY_RELEASE_REQUESTED)


TestSaga = Saga.TestCase
TestSaga.settings = settings(max_examples=examples(200), stateful_step_count=30, deadline=None)
