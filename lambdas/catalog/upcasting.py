"""Upcasters: how an event written under an older schema version is read today.

The event store keeps every event as it was written, forever. Consumers read through these
functions, each turning a payload of version N into version N+1, so handlers only ever see
the current model. A breaking change to a payload (a field removed, retyped, or newly
required) raises its schema version in the catalog and adds the upcaster from the previous
one here; tests/unit/test_schemas.py fails when either is missing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from catalog.types import DEFAULT_CURRENCY

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnreadableVersion(ValueError):
    """An event from a newer producer, or a version with no way up to the current one."""


def _order_created_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v2 added a required currency; every order before it was in the default currency."""
    return {**payload, "currency": DEFAULT_CURRENCY}


def _payment_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v2 named the currency of a payment's amount. Before it, the card network was called with
    an amount alone, and charged it in its account's currency: euros, whatever the order's."""
    return {**payload, "currency": DEFAULT_CURRENCY}


def _inventory_adjusted_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 set the units available and said nothing of those reserved: that many on hand."""
    quantity = payload.get("quantity")
    rest = {key: value for key, value in payload.items() if key != "quantity"}
    return {**rest, "onHand": quantity, "available": quantity}


# (event type, version it reads) -> upcaster to the next version
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("ORDER_CREATED", 1): _order_created_v1_to_v2,
    ("INVENTORY_ADJUSTED", 1): _inventory_adjusted_v1_to_v2,
    ("PAYMENT_REQUESTED", 1): _payment_v1_to_v2,
    ("PAYMENT_PROCESSED", 1): _payment_v1_to_v2,
    ("PAYMENT_REFUND_REQUESTED", 1): _payment_v1_to_v2,
    ("PAYMENT_REFUNDED", 1): _payment_v1_to_v2,
}


def upcast(envelope: dict[str, Any], event_type: str, current: int) -> dict[str, Any]:
    """The envelope at the current schema version (the input is not modified)."""
    metadata = envelope.get("metadata")
    version = metadata.get("schemaVersion", 1) if isinstance(metadata, dict) else current
    if not isinstance(version, int) or version == current:
        return envelope
    if version > current:
        raise UnreadableVersion(f"{event_type} v{version} is newer than this reader (v{current}): deploy the new code")
    upgraded = copy.deepcopy(envelope)
    while version < current:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnreadableVersion(f"no upcaster from {event_type} v{version} to v{version + 1}")
        if isinstance(upgraded.get("payload"), dict):
            upgraded["payload"] = step(upgraded["payload"])
        version += 1
    upgraded["metadata"]["schemaVersion"] = current
    return upgraded
