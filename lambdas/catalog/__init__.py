"""The event catalog: every event type, the service that publishes it and its payload model.

Infrastructure (rules), handlers, sample events and tests all import this module, so an
event type is named in exactly one place.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from catalog import payloads
from catalog.envelope import Caller, Envelope, Metadata, new_event_id, utc_now
from catalog.errors import unknown_event_type, without_values


class Source(StrEnum):
    """EventBridge `source` of each producing service."""

    USERS = "users.service"
    ORDERS = "orders.service"
    SAGA = "orders.saga"
    PAYMENTS = "payments.service"
    INVENTORY = "inventory.service"


class EventType(StrEnum):
    USER_REGISTERED = "USER_REGISTERED"
    ORDER_CREATED = "ORDER_CREATED"
    ORDER_UPDATED = "ORDER_UPDATED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_COMPLETED = "ORDER_COMPLETED"
    PAYMENT_REQUESTED = "PAYMENT_REQUESTED"
    PAYMENT_PROCESSED = "PAYMENT_PROCESSED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    INVENTORY_ADJUSTED = "INVENTORY_ADJUSTED"
    PRODUCT_PRICED = "PRODUCT_PRICED"
    INVENTORY_UPDATED = "INVENTORY_UPDATED"
    INVENTORY_INSUFFICIENT = "INVENTORY_INSUFFICIENT"
    INVENTORY_RELEASED = "INVENTORY_RELEASED"
    INVENTORY_SHIPPED = "INVENTORY_SHIPPED"
    PAYMENT_REFUND_REQUESTED = "PAYMENT_REFUND_REQUESTED"
    INVENTORY_RESERVATION_REQUESTED = "INVENTORY_RESERVATION_REQUESTED"
    INVENTORY_RELEASE_REQUESTED = "INVENTORY_RELEASE_REQUESTED"


@dataclass(frozen=True)
class EventSpec:
    type: EventType
    source: Source
    payload: builtins.type[payloads.Payload]  # `type` is the field above
    description: str
    version: int = 1  # the payload's current schema version; older ones are upcast on read


CATALOG: dict[EventType, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec(EventType.USER_REGISTERED, Source.USERS, payloads.UserRegistered, "A user signed up."),
        EventSpec(
            EventType.ORDER_CREATED, Source.ORDERS, payloads.OrderCreated, "A customer placed an order.", version=2
        ),
        EventSpec(EventType.ORDER_UPDATED, Source.ORDERS, payloads.OrderUpdated, "An open order's lines changed."),
        EventSpec(
            EventType.ORDER_CANCELLED, Source.ORDERS, payloads.OrderCancelled, "An order was cancelled, with why."
        ),
        EventSpec(EventType.ORDER_COMPLETED, Source.ORDERS, payloads.OrderCompleted, "An order was paid and reserved."),
        EventSpec(
            EventType.PAYMENT_REQUESTED,
            Source.SAGA,
            payloads.PaymentRequested,
            "The saga asks for a payment.",
            version=2,
        ),
        EventSpec(
            EventType.PAYMENT_PROCESSED, Source.PAYMENTS, payloads.PaymentProcessed, "A payment was charged.", version=2
        ),
        EventSpec(EventType.PAYMENT_FAILED, Source.PAYMENTS, payloads.PaymentFailed, "A payment was declined."),
        EventSpec(
            EventType.PAYMENT_REFUNDED, Source.PAYMENTS, payloads.PaymentRefunded, "A charge was refunded.", version=2
        ),
        EventSpec(
            EventType.INVENTORY_ADJUSTED,
            Source.INVENTORY,
            payloads.InventoryAdjusted,
            "Staff counted a product's units on hand.",
            version=2,
        ),
        EventSpec(
            EventType.PRODUCT_PRICED, Source.INVENTORY, payloads.ProductPriced, "A product's price list was set."
        ),
        EventSpec(
            EventType.INVENTORY_UPDATED, Source.INVENTORY, payloads.InventoryUpdated, "An order's lines were reserved."
        ),
        EventSpec(
            EventType.INVENTORY_INSUFFICIENT,
            Source.INVENTORY,
            payloads.InventoryInsufficient,
            "Stock too low to reserve.",
        ),
        EventSpec(
            EventType.INVENTORY_RELEASED, Source.INVENTORY, payloads.InventoryReleased, "A reservation was undone."
        ),
        EventSpec(
            EventType.INVENTORY_SHIPPED,
            Source.INVENTORY,
            payloads.InventoryShipped,
            "A completed order's reserved units left the stock, for shipping.",
        ),
        EventSpec(
            EventType.PAYMENT_REFUND_REQUESTED,
            Source.SAGA,
            payloads.PaymentRefundRequested,
            "The saga asks for a refund.",
            version=2,
        ),
        EventSpec(
            EventType.INVENTORY_RESERVATION_REQUESTED,
            Source.SAGA,
            payloads.InventoryReservationRequested,
            "The saga asks to reserve an order's lines.",
        ),
        EventSpec(
            EventType.INVENTORY_RELEASE_REQUESTED,
            Source.SAGA,
            payloads.InventoryReleaseRequested,
            "The saga asks to release a reservation.",
        ),
    )
}

ORDER_EVENTS = (
    EventType.ORDER_CREATED,
    EventType.ORDER_UPDATED,
    EventType.ORDER_CANCELLED,
    EventType.ORDER_COMPLETED,
)
# What a payment's stream holds (`payment:<orderId>`): the answer to its charge, then its refund.
PAYMENT_ANSWERS = (EventType.PAYMENT_PROCESSED, EventType.PAYMENT_FAILED, EventType.PAYMENT_REFUNDED)


class UnknownEventType(ValueError):
    pass


def spec_for(event_type: str) -> EventSpec:
    try:
        return CATALOG[EventType(event_type)]
    except ValueError:
        raise UnknownEventType(unknown_event_type(event_type)) from None


def envelope_model(event_type: str) -> type[Envelope]:
    return _envelope_of(spec_for(event_type).payload)


def _envelope_of(payload: builtins.type[payloads.Payload]) -> type[Envelope]:
    """The envelope model parametrized with a payload class known only at run time."""
    generic: Any = Envelope
    return generic[payload]


def parse_event(detail: str | bytes | dict[str, Any]) -> Envelope:
    """Validate an envelope (a dict, or JSON text) against its event type's current payload
    model, upcasting an older schema version first. A refusal names each field at fault and
    says no value (catalog/errors.py): the consumer logs it, and it is the dead-letter reason."""
    from catalog.upcasting import upcast

    data = json.loads(detail) if isinstance(detail, (str, bytes)) else detail  # its error quotes no text
    if not isinstance(data, dict):
        raise ValueError("an event must be a JSON object")
    event_type = data.get("eventType")
    if not isinstance(event_type, str):
        raise UnknownEventType("eventType is missing or not a string")
    spec = spec_for(event_type)
    try:
        return envelope_model(event_type).model_validate(upcast(data, spec.type, spec.version))
    except ValidationError as error:
        raise without_values(error) from None


def new_event(
    event_type: EventType,
    *,
    aggregate_id: str,
    payload: payloads.Payload,
    version: int,
    user_id: str,
    correlation_id: str,
    causation_id: str | None = None,
) -> Envelope:
    spec = CATALOG[event_type]
    if not isinstance(payload, spec.payload):
        raise TypeError(f"{event_type} carries {spec.payload.__name__}, not {type(payload).__name__}")
    return _envelope_of(spec.payload)(
        eventId=new_event_id(),
        eventType=event_type.value,
        timestamp=utc_now(),
        aggregateId=aggregate_id,
        payload=payload,
        metadata=Metadata(
            userId=user_id,
            correlationId=correlation_id,
            causationId=causation_id,
            version=version,
            schemaVersion=spec.version,
        ),
    )


__all__ = [
    "CATALOG",
    "ORDER_EVENTS",
    "PAYMENT_ANSWERS",
    "Caller",
    "Envelope",
    "EventSpec",
    "EventType",
    "Metadata",
    "Source",
    "UnknownEventType",
    "envelope_model",
    "new_event",
    "parse_event",
    "spec_for",
]
