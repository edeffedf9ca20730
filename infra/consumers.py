"""Every consumer of the bus: its name, handler and the event types its rule routes to it.

The stateful stack makes one dead-letter queue per entry, the stateless stack one function
and rule per entry, and the docs list them from here.
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

CONSUMERS: tuple[ConsumerSpec, ...] = (ORDERS_PROJECTION,)
