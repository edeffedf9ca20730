"""Sample orders and events for tests."""

from __future__ import annotations

from decimal import Decimal

from catalog import Envelope, EventType, new_event
from catalog.examples import put_events_entries, rule_target_event
from catalog.payloads import OrderCancelled, OrderCreated, OrderItem, OrderUpdated

ITEMS = (
    OrderItem(productId="SKU-1", quantity=2, price=Decimal("19.99")),
    OrderItem(productId="SKU-2", quantity=1, price=Decimal("5.00")),
)


def created(
    order_id: str = "order-1", version: int = 1, customer_id: str = "cust-1", currency: str = "EUR"
) -> Envelope:
    payload = OrderCreated(
        orderId=order_id, customerId=customer_id, items=ITEMS, totalAmount=Decimal("44.98"), currency=currency
    )
    return _event(EventType.ORDER_CREATED, order_id, payload, version)


def updated(order_id: str = "order-1", version: int = 2, quantity: int = 3) -> Envelope:
    items = (OrderItem(productId="SKU-1", quantity=quantity, price=Decimal("19.99")),)
    payload = OrderUpdated(orderId=order_id, items=items, totalAmount=Decimal("19.99") * quantity)
    return _event(EventType.ORDER_UPDATED, order_id, payload, version)


def cancelled(order_id: str = "order-1", version: int = 3, reason: str = "changed my mind") -> Envelope:
    return _event(EventType.ORDER_CANCELLED, order_id, OrderCancelled(orderId=order_id, reason=reason), version)


def _event(event_type: EventType, order_id: str, payload, version: int) -> Envelope:
    return new_event(
        event_type, aggregate_id=order_id, payload=payload, version=version, user_id="cust-1", correlation_id="corr-1"
    )


def bus_event(envelope: Envelope) -> dict:
    """The envelope as a Lambda target receives it from EventBridge."""
    return rule_target_event(put_events_entries(envelope, "test-bus")[0])
