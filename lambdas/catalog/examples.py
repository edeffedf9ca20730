"""One example of each event, with fixed ids and times: the source of the sample files in
events/ and of fixtures in tests. Change an example here, then run `make events`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from uuid import UUID

from catalog import CATALOG, Envelope, EventType, Metadata, envelope_model
from catalog.payloads import OrderCancelled, OrderCreated, OrderItem, OrderUpdated, Payload

SAMPLE_ORDER_ID = "sample-order-1"
_ITEMS = (
    OrderItem(productId="SKU-RED-MUG", quantity=2, price=Decimal("12.50")),
    OrderItem(productId="SKU-TEA-100G", quantity=1, price=Decimal("7.95")),
)


def _example(event_type: EventType, n: int, payload: Payload, version: int) -> Envelope:
    return envelope_model(event_type)(
        eventId=UUID(int=n),
        eventType=event_type.value,
        timestamp=datetime(2026, 11, 26, 9, 0, version, tzinfo=timezone.utc),
        aggregateId=payload.orderId,  # type: ignore[attr-defined]
        payload=payload,
        metadata=Metadata(userId="cust-42", correlationId="sample-checkout-1", version=version),
    )


EXAMPLES: dict[str, Envelope] = {
    "order-created": _example(
        EventType.ORDER_CREATED,
        1,
        OrderCreated(orderId=SAMPLE_ORDER_ID, customerId="cust-42", items=_ITEMS, totalAmount=Decimal("32.95")),
        version=1,
    ),
    "order-updated": _example(
        EventType.ORDER_UPDATED,
        2,
        OrderUpdated(orderId=SAMPLE_ORDER_ID, items=_ITEMS[:1], totalAmount=Decimal("25.00")),
        version=2,
    ),
    "order-cancelled": _example(
        EventType.ORDER_CANCELLED, 3, OrderCancelled(orderId=SAMPLE_ORDER_ID, reason="ordered by mistake"), version=3
    ),
}


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


def rule_target_event(entry: dict, *, event_id: str = "00000000-0000-0000-0000-0000000000ee",
                      account: str = "000000000000", region: str = "us-east-1") -> dict:
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
