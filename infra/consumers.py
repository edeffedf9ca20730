"""Every function behind the API and every consumer of the bus: name, handler, and for a
consumer the event types its rule routes to it.

The stateful stack makes one dead-letter queue per consumer, the stateless stack one function
(and rule, or routes) per entry with the grants each needs; the docs and the benchmark list
them from here. Plain Python: no CDK import.
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
    # Also routed the platform's events of types the catalog does not know, which it parks
    # with the reason: the bus would otherwise drop them without a trace.
    catch_all: bool = False


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
    catch_all=True,
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


@dataclass(frozen=True)
class HttpService:
    """One API function and the routes it serves."""

    name: str
    handler: str
    description: str
    routes: tuple[tuple[str, str], ...]  # (method, path)


HTTP_SERVICES = (
    HttpService("OrdersApi", "orders.api.handler", "Orders: commands to the event store, queries to the read model",
                (("POST", "/orders"), ("GET", "/orders/{id}"), ("PUT", "/orders/{id}"),
                 ("POST", "/orders/{id}/cancel"), ("GET", "/orders/{id}/events"))),
    HttpService("UsersApi", "users.api.handler", "Users: registration, one user per email address",
                (("POST", "/users"), ("GET", "/users/{id}"))),
    HttpService("InventoryApi", "inventory.api.handler", "Inventory: stock per product",
                (("PUT", "/inventory/{productId}"), ("GET", "/inventory/{productId}"))),
    HttpService("AnalyticsApi", "analytics.api.handler", "Analytics: per-day counters",
                (("GET", "/analytics/daily"),)),
    HttpService("AuditApi", "audit.api.handler", "Audit: the causal chain of a correlation id",
                (("GET", "/audit/{correlationId}"),)),
)
