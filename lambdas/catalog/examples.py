"""One example of each event, with fixed ids and times: the source of the sample files in
events/ and of fixtures in tests. Change an example here, then run `make catalog`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from catalog import CATALOG, Envelope, EventType, Metadata, envelope_model
from catalog import payloads as p

SAMPLE_ORDER_ID = "sample-order-1"
_ITEMS = (
    p.OrderItem(productId="SKU-RED-MUG", quantity=2, price=Decimal("12.50")),
    p.OrderItem(productId="SKU-TEA-100G", quantity=1, price=Decimal("7.95")),
)
_LINES = (p.ReservedLine(productId="SKU-RED-MUG", quantity=2), p.ReservedLine(productId="SKU-TEA-100G", quantity=1))
_PAYMENT = "pay-0000000000000001"


def _example(
    event_type: EventType,
    n: int,
    payload: p.Payload,
    *,
    version: int,
    aggregate: str | None = None,
    cause: int | None = None,
) -> Envelope:
    """An event of one sample checkout: ids, times and causation fixed so files never churn."""
    return envelope_model(event_type)(
        eventId=UUID(int=n),
        eventType=event_type.value,
        timestamp=datetime(2026, 11, 26, 9, 0, n, tzinfo=UTC),
        aggregateId=aggregate or SAMPLE_ORDER_ID,
        payload=payload,
        metadata=Metadata(
            userId="cust-42",
            correlationId="sample-checkout-1",
            version=version,
            causationId=str(UUID(int=cause)) if cause else None,
            schemaVersion=CATALOG[event_type].version,
        ),
    )


_SAGA, _PAYMENTS, _RESERVATION = (
    f"saga:{SAMPLE_ORDER_ID}",
    f"payment:{SAMPLE_ORDER_ID}",
    f"reservation:{SAMPLE_ORDER_ID}",
)
O = SAMPLE_ORDER_ID
E = EventType

# One example per event type (and the order's later events), named as its file in events/.
EXAMPLES: dict[str, Envelope] = {
    "user-registered": _example(
        E.USER_REGISTERED,
        20,
        p.UserRegistered(userId="cust-42", email="ada@example.com", name="Ada Lovelace"),
        version=1,
        aggregate="user:cust-42",
    ),
    "inventory-adjusted": _example(
        E.INVENTORY_ADJUSTED,
        21,
        p.InventoryAdjusted(productId="SKU-RED-MUG", onHand=40, available=40),
        version=1,
        aggregate="product:SKU-RED-MUG",
    ),
    "product-priced": _example(
        E.PRODUCT_PRICED,
        22,
        p.ProductPriced(productId="SKU-RED-MUG", prices={"EUR": Decimal("12.50"), "USD": Decimal("13.90")}),
        version=2,
        aggregate="product:SKU-RED-MUG",
    ),
    "order-created": _example(
        E.ORDER_CREATED,
        1,
        p.OrderCreated(orderId=O, customerId="cust-42", items=_ITEMS, totalAmount=Decimal("32.95"), currency="EUR"),
        version=1,
    ),
    "order-updated": _example(
        E.ORDER_UPDATED, 2, p.OrderUpdated(orderId=O, items=_ITEMS[:1], totalAmount=Decimal("25.00")), version=2
    ),
    "order-cancelled": _example(
        E.ORDER_CANCELLED, 3, p.OrderCancelled(orderId=O, reason="ordered by mistake"), version=3
    ),
    "payment-requested": _example(
        E.PAYMENT_REQUESTED,
        4,
        p.PaymentRequested(orderId=O, customerId="cust-42", amount=Decimal("32.95"), currency="EUR"),
        version=1,
        aggregate=_SAGA,
        cause=1,
    ),
    "payment-processed": _example(
        E.PAYMENT_PROCESSED,
        5,
        p.PaymentProcessed(orderId=O, paymentId=_PAYMENT, amount=Decimal("32.95"), currency="EUR"),
        version=1,
        aggregate=_PAYMENTS,
        cause=4,
    ),
    "payment-failed": _example(
        E.PAYMENT_FAILED,
        6,
        p.PaymentFailed(orderId=O, reason="amount 1200.00 EUR exceeds the card limit of 1000.00 EUR"),
        version=1,
        aggregate=_PAYMENTS,
        cause=4,
    ),
    "inventory-reservation-requested": _example(
        E.INVENTORY_RESERVATION_REQUESTED,
        7,
        p.InventoryReservationRequested(orderId=O, lines=_LINES),
        version=2,
        aggregate=_SAGA,
        cause=5,
    ),
    "inventory-updated": _example(
        E.INVENTORY_UPDATED, 8, p.InventoryUpdated(orderId=O, lines=_LINES), version=1, aggregate=_RESERVATION, cause=7
    ),
    "inventory-insufficient": _example(
        E.INVENTORY_INSUFFICIENT,
        9,
        p.InventoryInsufficient(orderId=O, shortLines=(p.ReservedLine(productId="SKU-RED-MUG", quantity=1),)),
        version=1,
        aggregate=_RESERVATION,
        cause=7,
    ),
    "order-completed": _example(E.ORDER_COMPLETED, 10, p.OrderCompleted(orderId=O), version=2, cause=8),
    "payment-refund-requested": _example(
        E.PAYMENT_REFUND_REQUESTED,
        11,
        p.PaymentRefundRequested(
            orderId=O,
            paymentId=_PAYMENT,
            amount=Decimal("32.95"),
            currency="EUR",
            reason="insufficient stock: SKU-RED-MUG short by 1",
        ),
        version=3,
        aggregate=_SAGA,
        cause=9,
    ),
    "payment-refunded": _example(
        E.PAYMENT_REFUNDED,
        12,
        p.PaymentRefunded(orderId=O, paymentId=_PAYMENT, amount=Decimal("32.95"), currency="EUR"),
        version=2,
        aggregate=_PAYMENTS,
        cause=11,
    ),
    "inventory-release-requested": _example(
        E.INVENTORY_RELEASE_REQUESTED, 13, p.InventoryReleaseRequested(orderId=O), version=3, aggregate=_SAGA, cause=3
    ),
    "inventory-shipped": _example(
        E.INVENTORY_SHIPPED,
        15,
        p.InventoryShipped(orderId=O, lines=_LINES),
        version=2,
        aggregate=_RESERVATION,
        cause=10,
    ),
    "inventory-released": _example(
        E.INVENTORY_RELEASED,
        14,
        p.InventoryReleased(orderId=O, lines=_LINES),
        version=2,
        aggregate=_RESERVATION,
        cause=13,
    ),
}


def example_of(event_type: EventType) -> tuple[str, Envelope]:
    """The example (and its file name) of an event type."""
    return next((name, e) for name, e in EXAMPLES.items() if e.eventType == event_type)


def put_events_entries(envelope: Envelope, bus_name: str) -> list[dict]:
    """The envelope as `aws events put-events --entries file://...` takes it."""
    return [
        {
            "EventBusName": bus_name,
            "Source": CATALOG[EventType(envelope.eventType)].source.value,
            "DetailType": envelope.eventType,
            "Detail": envelope.to_json(),
        }
    ]


def malformed_examples() -> dict[str, dict]:
    """Events a consumer must refuse (and park with the reason), as raw envelopes."""
    bad_total = EXAMPLES["order-created"].to_detail()
    bad_total["eventId"] = str(UUID(int=101))
    bad_total["aggregateId"] = bad_total["payload"]["orderId"] = "sample-order-bad-total"
    bad_total["payload"]["totalAmount"] = "99.99"
    return {"order-created-bad-total": bad_total}


def rule_target_event(
    entry: dict,
    *,
    event_id: str = "00000000-0000-0000-0000-0000000000ee",
    account: str = "000000000000",
    region: str = "us-east-1",
) -> dict:
    """A put-events entry as EventBridge hands it to a rule's Lambda target."""
    detail = json.loads(entry["Detail"])
    return {
        "version": "0",
        "id": event_id,
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account,
        "time": detail.get("timestamp", "1970-01-01T00:00:00Z")[:19] + "Z",
        "region": region,
        "resources": entry.get("Resources", []),
        "detail": detail,
    }
