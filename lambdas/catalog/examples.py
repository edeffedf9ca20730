"""One example of each event, with fixed ids and times: the source of the sample files in
events/ and of fixtures in tests. Change an example here, then run `make catalog`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from catalog import CATALOG, Envelope, EventType, Metadata, envelope_model, payloads

SAMPLE_ORDER_ID = "sample-order-1"
_ITEMS = (
    payloads.OrderItem(productId="SKU-RED-MUG", quantity=2, price=Decimal("12.50")),
    payloads.OrderItem(productId="SKU-TEA-100G", quantity=1, price=Decimal("7.95")),
)
_LINES = (
    payloads.ReservedLine(productId="SKU-RED-MUG", quantity=2),
    payloads.ReservedLine(productId="SKU-TEA-100G", quantity=1),
)
_PAYMENT = "pay-0000000000000001"


def _example(
    event_type: EventType,
    n: int,
    payload: payloads.Payload,
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
ORDER = SAMPLE_ORDER_ID  # the sample checkout's order

# One example per event type (and the order's later events), named as its file in events/.
EXAMPLES: dict[str, Envelope] = {
    "user-registered": _example(
        EventType.USER_REGISTERED,
        20,
        payloads.UserRegistered(userId="cust-42", email="ada@example.com", name="Ada Lovelace"),
        version=1,
        aggregate="user:cust-42",
    ),
    "inventory-adjusted": _example(
        EventType.INVENTORY_ADJUSTED,
        21,
        payloads.InventoryAdjusted(productId="SKU-RED-MUG", onHand=40, available=40),
        version=1,
        aggregate="product:SKU-RED-MUG",
    ),
    "product-priced": _example(
        EventType.PRODUCT_PRICED,
        22,
        payloads.ProductPriced(productId="SKU-RED-MUG", prices={"EUR": Decimal("12.50"), "USD": Decimal("13.90")}),
        version=2,
        aggregate="product:SKU-RED-MUG",
    ),
    "order-created": _example(
        EventType.ORDER_CREATED,
        1,
        payloads.OrderCreated(
            orderId=ORDER, customerId="cust-42", items=_ITEMS, totalAmount=Decimal("32.95"), currency="EUR"
        ),
        version=1,
    ),
    "order-updated": _example(
        EventType.ORDER_UPDATED,
        2,
        payloads.OrderUpdated(orderId=ORDER, items=_ITEMS[:1], totalAmount=Decimal("25.00")),
        version=2,
    ),
    "order-cancelled": _example(
        EventType.ORDER_CANCELLED, 3, payloads.OrderCancelled(orderId=ORDER, reason="ordered by mistake"), version=3
    ),
    "payment-requested": _example(
        EventType.PAYMENT_REQUESTED,
        4,
        payloads.PaymentRequested(orderId=ORDER, customerId="cust-42", amount=Decimal("32.95"), currency="EUR"),
        version=1,
        aggregate=_SAGA,
        cause=1,
    ),
    "payment-processed": _example(
        EventType.PAYMENT_PROCESSED,
        5,
        payloads.PaymentProcessed(orderId=ORDER, paymentId=_PAYMENT, amount=Decimal("32.95"), currency="EUR"),
        version=1,
        aggregate=_PAYMENTS,
        cause=4,
    ),
    "payment-failed": _example(
        EventType.PAYMENT_FAILED,
        6,
        payloads.PaymentFailed(orderId=ORDER, reason="amount 1200.00 EUR exceeds the card limit of 1000.00 EUR"),
        version=1,
        aggregate=_PAYMENTS,
        cause=4,
    ),
    "inventory-reservation-requested": _example(
        EventType.INVENTORY_RESERVATION_REQUESTED,
        7,
        payloads.InventoryReservationRequested(orderId=ORDER, lines=_LINES),
        version=2,
        aggregate=_SAGA,
        cause=5,
    ),
    "inventory-updated": _example(
        EventType.INVENTORY_UPDATED,
        8,
        payloads.InventoryUpdated(orderId=ORDER, lines=_LINES),
        version=1,
        aggregate=_RESERVATION,
        cause=7,
    ),
    "inventory-insufficient": _example(
        EventType.INVENTORY_INSUFFICIENT,
        9,
        payloads.InventoryInsufficient(
            orderId=ORDER, shortLines=(payloads.ReservedLine(productId="SKU-RED-MUG", quantity=1),)
        ),
        version=1,
        aggregate=_RESERVATION,
        cause=7,
    ),
    "order-completed": _example(
        EventType.ORDER_COMPLETED, 10, payloads.OrderCompleted(orderId=ORDER), version=2, cause=8
    ),
    "payment-refund-requested": _example(
        EventType.PAYMENT_REFUND_REQUESTED,
        11,
        payloads.PaymentRefundRequested(
            orderId=ORDER,
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
        EventType.PAYMENT_REFUNDED,
        12,
        payloads.PaymentRefunded(orderId=ORDER, paymentId=_PAYMENT, amount=Decimal("32.95"), currency="EUR"),
        version=2,
        aggregate=_PAYMENTS,
        cause=11,
    ),
    "inventory-release-requested": _example(
        EventType.INVENTORY_RELEASE_REQUESTED,
        13,
        payloads.InventoryReleaseRequested(orderId=ORDER),
        version=3,
        aggregate=_SAGA,
        cause=3,
    ),
    "inventory-shipped": _example(
        EventType.INVENTORY_SHIPPED,
        15,
        payloads.InventoryShipped(orderId=ORDER, lines=_LINES),
        version=2,
        aggregate=_RESERVATION,
        cause=10,
    ),
    "inventory-released": _example(
        EventType.INVENTORY_RELEASED,
        14,
        payloads.InventoryReleased(orderId=ORDER, lines=_LINES),
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
