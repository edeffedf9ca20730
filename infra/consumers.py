"""Every consumer of the bus: its name, handler and the event types its rule routes to it.

The stateful stack makes one dead-letter queue per entry, the stateless stack one function
and rule per entry (with the grants each needs), and the docs list them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog import ORDER_EVENTS, EventType


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    handler: str
    event_types: tuple[EventType, ...]
    description: str


ORDERS_PROJECTION = ConsumerSpec(
    name="OrdersProjection",
    handler="projection.handler.handler",
    event_types=ORDER_EVENTS,
    description="Builds the orders read model (CQRS query side) from ORDER_* events",
)
EMAIL = ConsumerSpec(
    name="Email",
    handler="notifications.handler.handler",
    event_types=(EventType.USER_REGISTERED, EventType.ORDER_CREATED, EventType.ORDER_CANCELLED, EventType.ORDER_COMPLETED),
    description="Emails the customer (SES) once per registration and order event",
)
ANALYTICS = ConsumerSpec(
    name="Analytics",
    handler="analytics.consumer.handler",
    event_types=tuple(EventType),
    description="Counts every event into per-day counters and CloudWatch metrics",
)
AUDIT = ConsumerSpec(
    name="Audit",
    handler="audit.consumer.handler",
    event_types=tuple(EventType),
    description="Appends every event to the audit log, by correlation id",
)

ORDER_SAGA = ConsumerSpec(
    name="OrderSaga",
    handler="saga.handler.handler",
    event_types=(
        EventType.ORDER_CREATED, EventType.ORDER_CANCELLED, EventType.PAYMENT_PROCESSED, EventType.PAYMENT_FAILED,
        EventType.PAYMENT_REFUNDED, EventType.INVENTORY_UPDATED, EventType.INVENTORY_INSUFFICIENT,
        EventType.INVENTORY_RELEASED,
    ),
    description="Order fulfilment saga: payment, then stock, then completion, with compensation",
)
PAYMENTS = ConsumerSpec(
    name="Payments",
    handler="payments.handler.handler",
    event_types=(EventType.PAYMENT_REQUESTED, EventType.PAYMENT_REFUND_REQUESTED),
    description="Simulated payment provider: charges, declines over the limit, refunds",
)
INVENTORY_RESERVATIONS = ConsumerSpec(
    name="InventoryReservations",
    handler="inventory.handler.handler",
    event_types=(EventType.INVENTORY_RESERVATION_REQUESTED, EventType.INVENTORY_RELEASE_REQUESTED),
    description="Reserves all of an order's lines at once (or none), and releases them",
)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ORDERS_PROJECTION, EMAIL, ANALYTICS, AUDIT, ORDER_SAGA, PAYMENTS, INVENTORY_RESERVATIONS,
)
