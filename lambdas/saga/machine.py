"""The order fulfilment saga as a pure function: (what the event store holds of an order) ->
what is due now.

The saga keeps no state of its own. Everything it needs is in four streams of the event store:
the order's (`<orderId>`: created, updated, cancelled, completed), its own commands (`saga:<orderId>`),
the payment's (`payment:<orderId>`) and the reservation's (`reservation:<orderId>`). Each of
them only grows, so the facts read from them only ever become true, and what is due follows
from the facts alone: a late, repeated or reordered event can wake the saga, never move it
twice or backwards.

    created, nothing asked                -> ask for payment of its total now  (PAYMENT_REQUESTED)
                                             (after any change; from then on the order's lines
                                             are closed: orders/service.py, eventstore/sagas.py)
    charged, no reservation asked         -> ask inventory to reserve the lines (INVENTORY_RESERVATION_REQUESTED)
    reserved                              -> complete the order                 (ORDER_COMPLETED)
    payment declined                      -> cancel the order, with the reason
    charged, not the order's total        -> cancel the order; refund what was charged
    stock insufficient                    -> cancel the order; refund what was charged
    lines no reservation can hold         -> cancel the order (before charging it)
    cancelled (by anyone)                 -> refund what was charged, release what was reserved,
                                             each asked once, as each becomes known
    timed out, a step asked, unanswered   -> cancel, and compensate as above

Each command is asked at most once per order: a command already on the saga's stream is never
due again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from catalog import Envelope, EventType
from catalog.payloads import (
    InventoryReleaseRequested,
    InventoryReservationRequested,
    OrderItem,
    Payload,
    PaymentRefundRequested,
    PaymentRequested,
    ReservedLine,
)
from orders.aggregate import Order
from orders.limits import per_product, unreservable


@dataclass
class Facts:
    """What the event store holds of one order, stream by stream."""

    order: list[Envelope] = field(default_factory=list)
    commands: list[Envelope] = field(default_factory=list)  # the saga's own stream
    payment: list[Envelope] = field(default_factory=list)
    reservation: list[Envelope] = field(default_factory=list)

    def first(self, stream: Iterable[Envelope], *types: EventType) -> Envelope | None:
        return next((e for e in stream if e.eventType in types), None)

    @property
    def created(self) -> Envelope | None:
        return self.first(self.order, EventType.ORDER_CREATED)

    @property
    def current(self) -> Order | None:
        """The order as its stream has it now: its lines and total after any change."""
        return Order.replay(self.order)

    @property
    def cancelled(self) -> bool:
        return self.first(self.order, EventType.ORDER_CANCELLED) is not None

    @property
    def completed(self) -> bool:
        return self.first(self.order, EventType.ORDER_COMPLETED) is not None

    @property
    def charge(self) -> Envelope | None:
        return self.first(self.payment, EventType.PAYMENT_PROCESSED)

    @property
    def declined(self) -> Envelope | None:
        return self.first(self.payment, EventType.PAYMENT_FAILED)

    @property
    def reserved(self) -> bool:
        return self.first(self.reservation, EventType.INVENTORY_UPDATED) is not None

    @property
    def stock_short(self) -> Envelope | None:
        """The reservation's answer that stock was short (INVENTORY_INSUFFICIENT), if it was."""
        return self.first(self.reservation, EventType.INVENTORY_INSUFFICIENT)

    def asked(self, command: EventType) -> bool:
        return self.first(self.commands, command) is not None

    @property
    def waiting_on(self) -> str | None:
        """The step another service was asked for and has yet to answer, if the order is pending."""
        if self.created is None or self.cancelled or self.completed:
            return None
        if self.asked(EventType.PAYMENT_REQUESTED) and self.charge is None and self.declined is None:
            return "payment"
        if self.asked(EventType.INVENTORY_RESERVATION_REQUESTED) and not self.reserved and self.stock_short is None:
            return "stock reservation"
        return None


@dataclass(frozen=True)
class Decision:
    """What is due: the commands to append to the saga's stream, and the order's fate."""

    commands: tuple[tuple[EventType, Payload], ...] = ()
    cancel_order: str | None = None
    complete_order: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.commands or self.cancel_order or self.complete_order)


def merged_lines(items: Iterable[OrderItem]) -> tuple[ReservedLine, ...]:
    """One line per product: a reservation updates each stock item once."""
    return tuple(ReservedLine(productId=p, quantity=q) for p, q in per_product(items).items())


def decide(facts: Facts, *, timed_out: bool = False) -> Decision:
    order = facts.current
    if order is None or facts.completed:
        return Decision()  # not an order of the event store's, or done
    if facts.cancelled:
        return Decision(commands=_compensations(facts, "order cancelled"))
    if facts.declined is not None:
        return Decision(cancel_order=f"payment declined: {facts.declined.payload.reason}")
    if (why := unreservable(order.items)) is not None:
        reason = f"cannot be fulfilled: {why}"
        return Decision(commands=_compensations(facts, reason), cancel_order=reason)
    if facts.charge is not None and (facts.charge.payload.amount, facts.charge.payload.currency) != (
        order.totalAmount,
        order.currency,
    ):
        # Payments charges what the saga's stored command says; a charge of any other amount
        # (a writer of the store that is not the saga, a bug) is not payment for this order.
        paid = facts.charge.payload
        reason = (
            f"payment of {paid.amount:.2f} {paid.currency} does not match the order's total of "
            f"{order.totalAmount:.2f} {order.currency}"
        )
        return Decision(commands=_compensations(facts, reason), cancel_order=reason)
    if facts.stock_short is not None:
        short = ", ".join(f"{line.productId} short by {line.quantity}" for line in facts.stock_short.payload.shortLines)
        reason = f"insufficient stock: {short}"
        return Decision(commands=_compensations(facts, reason), cancel_order=reason)
    if facts.reserved:
        return Decision(complete_order=True)
    if facts.charge is not None and not facts.asked(EventType.INVENTORY_RESERVATION_REQUESTED):
        request = InventoryReservationRequested(orderId=order.orderId, lines=merged_lines(order.items))
        return Decision(commands=((EventType.INVENTORY_RESERVATION_REQUESTED, request),))
    if facts.charge is None and not facts.asked(EventType.PAYMENT_REQUESTED):
        charge = PaymentRequested(
            orderId=order.orderId, customerId=order.customerId, amount=order.totalAmount, currency=order.currency
        )
        return Decision(commands=((EventType.PAYMENT_REQUESTED, charge),))
    if timed_out and facts.waiting_on is not None:
        reason = f"timed out waiting for {facts.waiting_on}"
        return Decision(commands=_compensations(facts, reason), cancel_order=reason)
    return Decision()


def _compensations(facts: Facts, reason: str) -> tuple[tuple[EventType, Payload], ...]:
    """Each undo now due and not yet asked: the refund of a charge, the release of a reservation."""
    created = facts.created
    if created is None:
        return ()  # no order, nothing was done for it
    order_id = created.payload.orderId
    due: list[tuple[EventType, Payload]] = []
    charge = facts.charge
    if charge is not None and not facts.asked(EventType.PAYMENT_REFUND_REQUESTED):
        due.append(
            (
                EventType.PAYMENT_REFUND_REQUESTED,
                PaymentRefundRequested(
                    orderId=order_id,
                    paymentId=charge.payload.paymentId,
                    amount=charge.payload.amount,
                    currency=charge.payload.currency,
                    reason=_reason(facts, reason),
                ),
            )
        )
    if facts.reserved and not facts.asked(EventType.INVENTORY_RELEASE_REQUESTED):
        due.append((EventType.INVENTORY_RELEASE_REQUESTED, InventoryReleaseRequested(orderId=order_id)))
    return tuple(due)


def _reason(facts: Facts, default: str) -> str:
    cancelled = facts.first(facts.order, EventType.ORDER_CANCELLED)
    return cancelled.payload.reason if cancelled is not None and cancelled.payload.reason else default
