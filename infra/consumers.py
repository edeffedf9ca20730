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

CONSUMERS: tuple[ConsumerSpec, ...] = (ORDERS_PROJECTION, EMAIL, ANALYTICS, AUDIT)
