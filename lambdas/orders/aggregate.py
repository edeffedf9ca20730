"""The Order aggregate: decides which events a command produces and folds events into state.

Commands never mutate state; they return new payloads. State only changes by applying
events, so the same code rebuilds an order from the event store and from the read model.
"""

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from catalog import Envelope, EventType
from catalog.payloads import OrderCancelled, OrderCompleted, OrderCreated, OrderItem, OrderUpdated, order_total
from catalog.types import DEFAULT_CURRENCY


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class DomainError(Exception):
    """A command that the order's current state does not allow."""


class InvalidTransition(DomainError):
    pass


class UnexpectedEvent(DomainError):
    """An event that cannot follow the state it is applied to (a gap or a foreign event)."""


class Order(BaseModel):
    model_config = ConfigDict(frozen=True)

    orderId: str
    customerId: str
    items: tuple[OrderItem, ...]
    totalAmount: Decimal
    currency: str = DEFAULT_CURRENCY
    status: OrderStatus
    version: int
    cancelReason: str | None = None

    # ---- commands: return the payload of the event to append -------------------------

    @staticmethod
    def create(
        *, order_id: str, customer_id: str, items: Iterable[OrderItem], currency: str = DEFAULT_CURRENCY
    ) -> OrderCreated:
        lines = tuple(items)
        return OrderCreated(
            orderId=order_id, customerId=customer_id, items=lines, totalAmount=order_total(lines), currency=currency
        )

    def update_items(self, items: Iterable[OrderItem]) -> OrderUpdated:
        self._require_open("update")
        lines = tuple(items)
        return OrderUpdated(orderId=self.orderId, items=lines, totalAmount=order_total(lines))

    def cancel(self, reason: str) -> OrderCancelled:
        self._require_open("cancel")
        return OrderCancelled(orderId=self.orderId, reason=reason)

    def complete(self) -> OrderCompleted:
        self._require_open("complete")
        return OrderCompleted(orderId=self.orderId)

    def _require_open(self, action: str) -> None:
        if self.status is not OrderStatus.PENDING:
            raise InvalidTransition(f"cannot {action} order {self.orderId}: it is {self.status.value.lower()}")

    # ---- evolution: state + event -> state ------------------------------------------------

    def apply(self, event: Envelope) -> "Order":
        if event.version != self.version + 1:
            raise UnexpectedEvent(f"order {self.orderId} is at version {self.version}, got version {event.version}")
        payload = event.payload
        match EventType(event.eventType):
            case EventType.ORDER_UPDATED:
                changes = {"items": payload.items, "totalAmount": payload.totalAmount}
            case EventType.ORDER_CANCELLED:
                changes = {"status": OrderStatus.CANCELLED, "cancelReason": payload.reason}
            case EventType.ORDER_COMPLETED:
                changes = {"status": OrderStatus.COMPLETED}
            case other:
                raise UnexpectedEvent(f"{other} cannot follow the creation of order {self.orderId}")
        return self.model_copy(update={**changes, "version": event.version})

    @classmethod
    def started_by(cls, event: Envelope) -> "Order":
        if event.eventType != EventType.ORDER_CREATED or event.version != 1:
            raise UnexpectedEvent(
                f"an order starts with ORDER_CREATED at version 1, not {event.eventType} v{event.version}"
            )
        created: OrderCreated = event.payload
        return cls(
            orderId=created.orderId,
            customerId=created.customerId,
            items=created.items,
            totalAmount=created.totalAmount,
            currency=created.currency,
            status=OrderStatus.PENDING,
            version=1,
        )

    @classmethod
    def replay(cls, events: Iterable[Envelope]) -> "Order | None":
        """Rebuild an order from its history; None when it has none."""
        order: Order | None = None
        for event in events:
            order = cls.started_by(event) if order is None else order.apply(event)
        return order
