"""Malformed input, in the three places it can enter: API bodies, bus entries and event-store
stream records. Each must be refused at the door (a 4xx naming what is wrong; PutEvents
failing the entry) or parked in a dead-letter queue with the reason, and write nothing.

Every case is (name, what it sends); `field` is what a 4xx must name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from catalog import CATALOG, EventType
from catalog.examples import EXAMPLES

INJECTIONS = (
    "'; DROP TABLE orders; --",
    "<script>alert(1)</script>",
    "${jndi:ldap://x/a}",
    "../../etc/passwd",
    "{{7*7}}",
    "\u0000nul",
)


@dataclass(frozen=True)
class ApiCase:
    name: str
    method: str
    path: str
    body: Any = None
    raw: bytes | None = None
    field: str = ""  # the field a 4xx must name ("" : the status alone says it)
    statuses: tuple[int, ...] = (400,)


def api_cases(sku: str, customer: str, order_id: str) -> list[ApiCase]:
    """Sent as the signed-in `customer` (their id: the token's subject), whose order `order_id` is."""
    line = {"productId": sku, "quantity": 1, "price": "9.99"}
    order = {"items": [line]}  # the customer is the token's: a body names none
    cases = [
        ApiCase("invalid JSON", "POST", "/orders", raw=b'{"items": [', field="body"),
        ApiCase("empty body", "POST", "/orders", raw=b"", field="body"),
        ApiCase("JSON array body", "POST", "/orders", body=[order], field="body"),
        ApiCase("JSON string body", "POST", "/orders", body="order", field="body"),
        ApiCase("null body", "POST", "/orders", raw=b"null", field="body"),
        # naming a customer at all is refused, even the signed-in one: an order is its token's
        ApiCase(
            "customerId of the signed-in customer",
            "POST",
            "/orders",
            body={**order, "customerId": customer},
            field="customerId",
        ),
        ApiCase(
            "customerId of another customer",
            "POST",
            "/orders",
            body={**order, "customerId": "someone-else"},
            field="customerId",
        ),
        ApiCase("customerId a number", "POST", "/orders", body={**order, "customerId": 42}, field="customerId"),
        ApiCase("missing items", "POST", "/orders", body={}, field="items"),
        ApiCase("items an object", "POST", "/orders", body={**order, "items": line}, field="items"),
        ApiCase("no items", "POST", "/orders", body={**order, "items": []}, field="items"),
        ApiCase("101 items", "POST", "/orders", body={**order, "items": [line] * 101}, field="items"),
        ApiCase(
            "quantity zero", "POST", "/orders", body={**order, "items": [{**line, "quantity": 0}]}, field="quantity"
        ),
        ApiCase(
            "quantity negative",
            "POST",
            "/orders",
            body={**order, "items": [{**line, "quantity": -3}]},
            field="quantity",
        ),
        ApiCase(
            "quantity a string",
            "POST",
            "/orders",
            body={**order, "items": [{**line, "quantity": "two"}]},
            field="quantity",
        ),
        ApiCase(
            "quantity a fraction",
            "POST",
            "/orders",
            body={**order, "items": [{**line, "quantity": 1.5}]},
            field="quantity",
        ),
        ApiCase(
            "price negative", "POST", "/orders", body={**order, "items": [{**line, "price": "-1.00"}]}, field="price"
        ),
        ApiCase(
            "price with 3 decimals",
            "POST",
            "/orders",
            body={**order, "items": [{**line, "price": "1.005"}]},
            field="price",
        ),
        ApiCase(
            "price not a number", "POST", "/orders", body={**order, "items": [{**line, "price": "NaN"}]}, field="price"
        ),
        ApiCase(
            "price as a float", "POST", "/orders", body={**order, "items": [{**line, "price": 1e308}]}, field="price"
        ),
        ApiCase("unknown currency", "POST", "/orders", body={**order, "currency": "XXX"}, field="currency"),
        # the price is the catalog's: one the customer was not shown is refused with today's
        ApiCase(
            "price under the catalog's",
            "POST",
            "/orders",
            body={**order, "items": [{**line, "price": "0.01"}]},
            field="items.0.price",
            statuses=(409,),
        ),
        ApiCase(
            "a product not for sale",
            "POST",
            "/orders",
            body={**order, "items": [{**line, "productId": "NOT-FOR-SALE", "price": None}]},
            field="productId",
        ),
        ApiCase(
            "a currency the product is not priced in",
            "POST",
            "/orders",
            body={**order, "currency": "SEK"},
            field="productId",
        ),
        ApiCase(
            "a price list in a currency not taken",
            "PUT",
            f"/inventory/{sku}/prices",
            body={"prices": {"XXX": "1.00"}},
            field="prices",
        ),
        ApiCase(
            "a negative price", "PUT", f"/inventory/{sku}/prices", body={"prices": {"EUR": "-1.00"}}, field="prices"
        ),
        ApiCase("an empty price list", "PUT", f"/inventory/{sku}/prices", body={"prices": {}}, field="prices"),
        ApiCase("unexpected field", "POST", "/orders", body={**order, "isAdmin": True}, field="isAdmin"),
        ApiCase(
            "productId too long",
            "POST",
            "/orders",
            body={**order, "items": [{**line, "productId": "P" * 65}]},
            field="productId",
        ),
        ApiCase("body over 64 KiB", "POST", "/orders", body={**order, "note": "x" * 70_000}, statuses=(413,)),
        *[
            ApiCase(
                f"injection in productId: {text[:12]!r}",
                "POST",
                "/orders",
                body={**order, "items": [{**line, "productId": text}]},
                field="productId",
            )
            for text in INJECTIONS
        ],
        *[
            ApiCase(
                f"injection in currency: {text[:12]!r}",
                "POST",
                "/orders",
                body={**order, "currency": text},
                field="currency",
            )
            for text in INJECTIONS[:3]
        ],
        ApiCase(
            "update without expectedVersion",
            "PUT",
            f"/orders/{order_id}",
            body={"items": [line]},
            field="expectedVersion",
        ),
        ApiCase(
            "update with expectedVersion a string",
            "PUT",
            f"/orders/{order_id}",
            body={"items": [line], "expectedVersion": "1"},
            field="expectedVersion",
        ),
        ApiCase(
            "update with expectedVersion 0",
            "PUT",
            f"/orders/{order_id}",
            body={"items": [line], "expectedVersion": 0},
            field="expectedVersion",
        ),
        ApiCase(
            "cancel with an empty reason", "POST", f"/orders/{order_id}/cancel", body={"reason": ""}, field="reason"
        ),
        ApiCase(
            "cancel with a 501-character reason",
            "POST",
            f"/orders/{order_id}/cancel",
            body={"reason": "r" * 501},
            field="reason",
        ),
        # API Gateway itself refuses a path no route matches (403 Missing Authentication Token)
        ApiCase("order id with a path injection", "GET", "/orders/..%2F..%2Fetc%2Fpasswd", statuses=(400, 403, 404)),
        # the address is the token's (verified at sign-up): a body naming one is refused
        ApiCase(
            "registration naming an email",
            "POST",
            "/users",
            body={"email": "a@example.com", "name": "A"},
            field="email",
        ),
        ApiCase("registration without a name", "POST", "/users", body={}, field="name"),
        ApiCase(
            "registration with an injection as email",
            "POST",
            "/users",
            body={"email": "a@example.com'; --", "name": "A"},
            field="email",
        ),
        ApiCase(
            "registration naming a userId", "POST", "/users", body={"userId": customer, "name": "A"}, field="userId"
        ),
        ApiCase("negative stock", "PUT", f"/inventory/{sku}", body={"quantity": -1}, field="quantity"),
        ApiCase("stock a string", "PUT", f"/inventory/{sku}", body={"quantity": "10"}, field="quantity"),
        # ':' separates the event store's key spaces: a caller's id never names another stream
        ApiCase(
            "stock of another key space",
            "PUT",
            f"/inventory/payment:{order_id}",
            body={"quantity": 1},
            field="productId",
        ),
        ApiCase("order id of another key space", "GET", f"/orders/payment:{order_id}/events", field="id"),
    ]
    return cases


@dataclass(frozen=True)
class BusCase:
    name: str
    entry: dict  # Source, DetailType, Detail (as sent)
    reason: str  # what the dead letter's reason must mention (when not refused by PutEvents)


def bus_cases(bus: str, prefix: str) -> list[BusCase]:
    def detail(event_type: EventType, **changes) -> dict:
        data = EXAMPLES[_example_name(event_type)].to_detail()
        data.update(eventId=str(uuid.uuid4()), aggregateId=f"{prefix}bus-{uuid.uuid4().hex[:8]}")
        data["metadata"] = {**data["metadata"], "correlationId": f"{prefix}bus"}
        for path, value in changes.items():
            target = data
            *parents, last = path.split("__")
            for parent in parents:
                target = target[parent]
            if value is _DELETE:
                target.pop(last, None)
            else:
                target[last] = value
        return data

    def entry(event_type: EventType, data: Any, *, source: str | None = None, detail_type: str | None = None) -> dict:
        return {
            "EventBusName": bus,
            "Source": source or CATALOG[event_type].source.value,
            "DetailType": detail_type or event_type.value,
            "Detail": data if isinstance(data, str) else json.dumps(data),
        }

    created = EventType.ORDER_CREATED
    return [
        BusCase(
            "total that does not add up", entry(created, detail(created, payload__totalAmount="1.00")), "totalAmount"
        ),
        BusCase("payload missing", entry(created, detail(created, payload=_DELETE)), "payload"),
        BusCase("eventId not a UUID", entry(created, detail(created, eventId="not-a-uuid")), "eventId"),
        BusCase("timestamp not a date", entry(created, detail(created, timestamp="yesterday")), "timestamp"),
        BusCase("items a string", entry(created, detail(created, payload__items="lots")), "items"),
        BusCase(
            "negative quantity in the event",
            entry(created, detail(created, payload__items=[{"productId": "P-1", "quantity": -1, "price": "1.00"}])),
            "quantity",
        ),
        BusCase(
            "injection as orderId", entry(created, detail(created, payload__orderId="'; DROP TABLE x; --")), "orderId"
        ),
        BusCase(
            "unknown event type",
            entry(created, {**detail(created), "eventType": "ORDER_SHIPPED"}, detail_type="ORDER_SHIPPED"),
            "ORDER_SHIPPED",
        ),
        BusCase(
            "detail-type contradicting eventType",
            entry(EventType.ORDER_COMPLETED, detail(created), detail_type="ORDER_COMPLETED"),
            "does not match",
        ),
        BusCase("unknown schema version", entry(created, detail(created, metadata__schemaVersion=99)), "schemaVersion"),
        BusCase("eventType missing", entry(created, detail(created, eventType=_DELETE)), "eventType"),
        BusCase("metadata missing", entry(created, detail(created, metadata=_DELETE)), "metadata"),
        BusCase("detail not an object", entry(created, "[1, 2, 3]"), "JSON object"),
        BusCase(
            "user with an invalid email",
            entry(EventType.USER_REGISTERED, detail(EventType.USER_REGISTERED, payload__email="nobody")),
            "email",
        ),
    ]


@dataclass(frozen=True)
class StreamCase:
    name: str
    item: dict  # a DynamoDB item written straight into the event store
    reason: str


def stream_cases(prefix: str) -> list[StreamCase]:
    def item(version: int, **attributes) -> dict:
        base = {"aggregateId": {"S": f"{prefix}stream"}, "version": {"N": str(version)}}
        return {**base, **attributes}

    good = EXAMPLES[_example_name(EventType.ORDER_CREATED)].to_detail()
    good_attributes = {
        "eventId": {"S": good["eventId"]},
        "eventType": {"S": "ORDER_CREATED"},
        "source": {"S": "orders.service"},
        "correlationId": {"S": f"{prefix}stream"},
    }
    return [
        StreamCase("no detail", item(1, **good_attributes), "lacks string attribute 'detail'"),
        StreamCase("detail not JSON", item(2, **good_attributes, detail={"S": "{not json"}), "not JSON"),
        StreamCase(
            "detail a number attribute", item(3, **good_attributes, detail={"N": "7"}), "lacks string attribute"
        ),
        StreamCase(
            "detail of another event", item(4, **good_attributes, detail={"S": json.dumps(good)}), "does not match"
        ),
        StreamCase(
            "no source",
            item(5, eventType={"S": "ORDER_CREATED"}, detail={"S": json.dumps(good)}),
            "lacks string attribute 'source'",
        ),
        # 300 KB: over the bus's old 256 KB, under its 1 MB, and refused for what it says (an item
        # of the store holds at most 400 KB: a detail the bus would refuse cannot reach the stream)
        StreamCase(
            "detail of 300 KB, not the item's event",
            item(6, **good_attributes, detail={"S": json.dumps({"x": "y" * 300_000})}),
            "does not match",
        ),
        StreamCase("detail a JSON array", item(7, **good_attributes, detail={"S": "[]"}), "not a JSON object"),
        StreamCase(
            "injection as event type",
            item(8, **{**good_attributes, "eventType": {"S": "'; DROP TABLE x; --"}}, detail={"S": json.dumps(good)}),
            "does not match",
        ),
    ]


class _Delete:
    pass


_DELETE = _Delete()


def _example_name(event_type: EventType) -> str:
    return next(name for name, example in EXAMPLES.items() if example.eventType == event_type.value)
