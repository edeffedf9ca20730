"""Whatever a client or the bus sends, the answer is a validated value or a refusal that names
the field at fault, never a crash; and money adds up exactly, whatever the lines."""

from __future__ import annotations

import json
from decimal import Decimal
from http import HTTPStatus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from catalog import EventType, UnknownEventType, parse_event
from catalog.payloads import OrderCreated, OrderItem, order_total
from common.http import ApiError, parse_body
from orders.api import PlaceOrder
from tests.support.properties import examples

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "productId": st.sampled_from(["SKU-1", "", "x" * 80, "../etc", 7]),
        "quantity": st.sampled_from([1, 3, 0, -1, 10_001, "2", 1.5, None]),
        "price": st.sampled_from(["9.99", "0", "1.005", "-1", "abc", 9.99, None, "1e3"]),
    },
)
ALMOST_ORDERS = st.fixed_dictionaries(
    {},
    optional={
        "customerId": st.sampled_from(["cust-1", "", "a b", None, 3]),
        "items": st.lists(ITEM, max_size=3) | JSON,
        "currency": st.sampled_from(["EUR", "USD", "XYZ", "eur", None]),
        "extra": JSON,
    },
)


def assert_answer_names_the_field(raw: str) -> None:
    try:
        parse_body(raw, PlaceOrder)
    except ApiError as refusal:
        assert refusal.status in (HTTPStatus.BAD_REQUEST, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        if refusal.status == HTTPStatus.BAD_REQUEST:
            assert refusal.errors and all(error["field"] and error["message"] for error in refusal.errors)


@settings(max_examples=examples(300), deadline=None)
@given(JSON)
def test_any_json_body_is_an_order_or_a_400_naming_the_field(value):
    assert_answer_names_the_field(json.dumps(value))


@settings(max_examples=examples(300), deadline=None)
@given(ALMOST_ORDERS)
def test_an_almost_valid_order_is_an_order_or_a_400_naming_each_field_at_fault(body):
    assert_answer_names_the_field(json.dumps(body))


@settings(max_examples=examples(100), deadline=None)
@given(st.text(max_size=50))
def test_any_text_body_is_a_400_not_a_crash(raw):
    assert_answer_names_the_field(raw)


@settings(max_examples=examples(300), deadline=None)
@given(JSON, st.sampled_from([t.value for t in EventType]))
def test_any_event_detail_is_an_envelope_or_refused_with_the_field_at_fault(payload, event_type):
    detail = {
        "eventId": "00000000-0000-0000-0000-000000000001",
        "eventType": event_type,
        "version": 1,
        "aggregateId": "order-1",
        "timestamp": "2026-11-29T10:00:00Z",
        "schemaVersion": 2,
        "metadata": {"correlationId": "c-1", "userId": "u-1"},
        "payload": payload,
    }
    try:
        parse_event(detail)
    except ValidationError as refusal:
        assert all(error["loc"] for error in refusal.errors())  # each reason names where it is
    except (ValueError, UnknownEventType) as refusal:
        assert str(refusal)


CENTS = st.integers(min_value=0, max_value=100_000_00)
# within Money's 12 digits: 100,000.00 x 100 x 100 lines is 1,000,000,000.00
LINES = st.lists(st.tuples(CENTS, st.integers(min_value=1, max_value=100)), min_size=1, max_size=100)


@settings(max_examples=examples(300), deadline=None)
@given(LINES)
def test_any_valid_orders_total_is_exact(lines):
    items = tuple(
        OrderItem(productId=f"SKU-{n}", quantity=quantity, price=Decimal(cents) / 100)
        for n, (cents, quantity) in enumerate(lines)
    )
    exact = Decimal(sum(cents * quantity for cents, quantity in lines)) / 100  # in whole cents, no float
    assert order_total(items) == exact
    placed = OrderCreated(orderId="o-1", customerId="c-1", currency="EUR", items=items, totalAmount=exact)
    assert json.loads(placed.model_dump_json())["totalAmount"] == f"{exact:.2f}"
    with pytest.raises(ValidationError, match="totalAmount"):  # a cent off is refused
        OrderCreated(orderId="o-1", customerId="c-1", currency="EUR", items=items, totalAmount=exact + Decimal("0.01"))
