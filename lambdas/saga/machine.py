"""The order fulfilment saga as a pure transition function: (state, event) -> decision.

The state is a set of facts that only ever become true (charged, reserved, cancelled,
refund requested, ...), so a late or repeated event can never move a saga backwards, and
the outputs follow from the facts:

    ORDER_CREATED           -> ask for payment                           (step PAYMENT)
    PAYMENT_PROCESSED       -> ask inventory to reserve every line       (step RESERVATION)
    PAYMENT_FAILED          -> cancel the order, with the reason
    INVENTORY_UPDATED       -> complete the order                        (COMPLETED)
    INVENTORY_INSUFFICIENT  -> cancel the order; refund what was charged
    ORDER_CANCELLED         -> (the customer, or the saga itself) refund what was charged,
                               release what was reserved, as each becomes known
    TIMEOUT                 -> a step took too long: cancel, and compensate as above
    PAYMENT_REFUNDED / INVENTORY_RELEASED -> compensation done
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from catalog import Envelope, EventType
from catalog.payloads import (
    InventoryReleaseRequested,
    InventoryReservationRequested,
    OrderItem,
    PaymentRefundRequested,
    PaymentRequested,
    Payload,
    ReservedLine,
)

TIMEOUT = "TIMEOUT"  # the sweep's input, not an event on the bus


class Status(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class Step(StrEnum):
    PAYMENT = "PAYMENT"
    RESERVATION = "RESERVATION"
    DONE = "DONE"


class Compensation(StrEnum):
    NONE = "NONE"
    REQUESTED = "REQUESTED"
    DONE = "DONE"


class SagaState(BaseModel):
    model_config = ConfigDict(frozen=True)

    orderId: str
    correlationId: str
    customerId: str | None = None
    amount: Decimal | None = None
    lines: tuple[ReservedLine, ...] = ()
    status: Status = Status.RUNNING
    step: Step = Step.PAYMENT
    charged: bool = False
    paymentId: str | None = None
    reserved: bool = False
    orderCancelled: bool = False
    cancelReason: str | None = None
    refund: Compensation = Compensation.NONE
    release: Compensation = Compensation.NONE
    version: int = 0  # transitions so far: the condition of the next write
    commands: int = 0  # events the saga has emitted: the version of its own stream

    @property
    def waiting(self) -> bool:
        """Waiting on a step another service must finish: what the timeout sweep looks for."""
        return self.status is Status.RUNNING and self.step is not Step.DONE


class Decision(BaseModel):
    """What a transition does: the new state, the commands to emit on the saga's own stream,
    and the order's fate (cancel with a reason, or complete)."""

    model_config = ConfigDict(frozen=True)

    state: SagaState
    commands: tuple[tuple[EventType, Payload], ...] = ()
    cancel_order: str | None = None
    complete_order: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.commands or self.cancel_order or self.complete_order)


def merged_lines(items: tuple[OrderItem, ...]) -> tuple[ReservedLine, ...]:
    """One line per product: a reservation updates each stock item once."""
    totals: dict[str, int] = {}
    for item in items:
        totals[item.productId] = totals.get(item.productId, 0) + item.quantity
    return tuple(ReservedLine(productId=p, quantity=q) for p, q in totals.items())


def start(event: Envelope) -> SagaState:
    """The state before the first event of an order (ORDER_CREATED, or a cancellation that
    overtook it on the bus)."""
    return SagaState(orderId=event.aggregateId, correlationId=event.metadata.correlationId)


def decide(state: SagaState, event_type: str, payload: Payload | None = None) -> Decision:
    s = state
    match event_type:
        case EventType.ORDER_CREATED:
            if s.customerId is not None:
                return Decision(state=s)  # already started
            s = s.model_copy(update={"customerId": payload.customerId, "amount": payload.totalAmount,
                                     "lines": merged_lines(payload.items)})
            if s.orderCancelled:  # the cancellation arrived first: never charge
                return Decision(state=s.model_copy(update={"status": Status.CANCELLED, "step": Step.DONE}))
            request = PaymentRequested(orderId=s.orderId, customerId=s.customerId, amount=s.amount)
            return Decision(state=s, commands=((EventType.PAYMENT_REQUESTED, request),))

        case EventType.PAYMENT_PROCESSED:
            if s.charged:
                return Decision(state=s)
            s = s.model_copy(update={"charged": True, "paymentId": payload.paymentId})
            if s.orderCancelled:
                return _compensate(s)
            reserve = InventoryReservationRequested(orderId=s.orderId, lines=s.lines)
            return Decision(state=s.model_copy(update={"step": Step.RESERVATION}),
                            commands=((EventType.INVENTORY_RESERVATION_REQUESTED, reserve),))

        case EventType.PAYMENT_FAILED:
            if s.step is not Step.PAYMENT or s.charged:
                return Decision(state=s)
            return _cancel(s.model_copy(update={"step": Step.DONE}), f"payment declined: {payload.reason}")

        case EventType.INVENTORY_UPDATED:
            if s.reserved:
                return Decision(state=s)
            s = s.model_copy(update={"reserved": True})
            if s.orderCancelled:
                return _compensate(s)
            return Decision(state=s.model_copy(update={"status": Status.COMPLETED, "step": Step.DONE}),
                            complete_order=True)

        case EventType.INVENTORY_INSUFFICIENT:
            if s.step is not Step.RESERVATION:
                return Decision(state=s)
            short = ", ".join(f"{line.productId} short by {line.quantity}" for line in payload.shortLines)
            return _cancel(s.model_copy(update={"step": Step.DONE}), f"insufficient stock: {short}")

        case EventType.ORDER_CANCELLED:
            if s.orderCancelled:
                return Decision(state=s)
            s = s.model_copy(update={"orderCancelled": True, "cancelReason": s.cancelReason or payload.reason,
                                     "status": Status.CANCELLED if s.status is Status.RUNNING else s.status})
            return _compensate(s)

        case EventType.PAYMENT_REFUNDED:
            return Decision(state=s.model_copy(update={"refund": Compensation.DONE}))

        case EventType.INVENTORY_RELEASED:
            return Decision(state=s.model_copy(update={"release": Compensation.DONE}))

        case "TIMEOUT":
            if not s.waiting:
                return Decision(state=s)
            return _cancel(s.model_copy(update={"step": Step.DONE}),
                           f"timed out waiting for {'payment' if s.step is Step.PAYMENT else 'stock reservation'}")

    return Decision(state=s)


def _cancel(state: SagaState, reason: str) -> Decision:
    """The saga gives up on the order: cancel it and undo what was done so far."""
    cancelled = state.model_copy(update={"status": Status.CANCELLED, "orderCancelled": True, "cancelReason": reason})
    compensation = _compensate(cancelled)
    return compensation.model_copy(update={"cancel_order": reason})


def _compensate(state: SagaState) -> Decision:
    """Ask for each undo that is now due and not yet asked for."""
    commands: list[tuple[EventType, Payload]] = []
    updates: dict = {"step": Step.DONE} if state.step is not Step.DONE else {}
    if state.charged and state.refund is Compensation.NONE:
        reason = state.cancelReason or "order cancelled"
        commands.append((EventType.PAYMENT_REFUND_REQUESTED, PaymentRefundRequested(
            orderId=state.orderId, paymentId=state.paymentId, amount=state.amount, reason=reason)))
        updates["refund"] = Compensation.REQUESTED
    if state.reserved and state.release is Compensation.NONE:
        commands.append((EventType.INVENTORY_RELEASE_REQUESTED, InventoryReleaseRequested(orderId=state.orderId)))
        updates["release"] = Compensation.REQUESTED
    return Decision(state=state.model_copy(update=updates), commands=tuple(commands))
