"""The envelope and payload models: what producers may publish and consumers can rely on."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from catalog import CATALOG, EventType, Source, UnknownEventType, parse_event
from catalog.payloads import OrderCreated, OrderItem
from tests.support import orders


def order_created(**overrides) -> dict:
    body = {
        "orderId": "order-1",
        "customerId": "cust-1",
        "items": [
            {"productId": "SKU-1", "quantity": 2, "price": "19.99"},
            {"productId": "SKU-2", "quantity": 1, "price": 5},
        ],
        "totalAmount": "44.98",
        "currency": "EUR",
    }
    return {**body, **overrides}


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in error.errors()}


def test_every_event_type_has_a_source_and_a_payload_model():
    assert set(CATALOG) == set(EventType)
    assert all(isinstance(spec.source, Source) for spec in CATALOG.values())


def test_money_is_exact_decimal_and_travels_as_a_string():
    created = OrderCreated.model_validate(order_created())
    assert created.totalAmount == Decimal("44.98")
    assert isinstance(created.items[0].price, Decimal)
    assert json.loads(created.model_dump_json())["totalAmount"] == "44.98"


def test_a_float_that_is_not_exact_in_binary_still_adds_up():
    # 0.1 + 0.2 != 0.3 in binary floating point; the order total must still be exact.
    items = [{"productId": "A", "quantity": 1, "price": 0.1}, {"productId": "B", "quantity": 1, "price": 0.2}]
    assert OrderCreated.model_validate(order_created(items=items, totalAmount=0.3)).totalAmount == Decimal("0.30")


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"productId": "SKU-1", "quantity": 0, "price": "1.00"}, "quantity"),
        ({"productId": "SKU-1", "quantity": -1, "price": "1.00"}, "quantity"),
        ({"productId": "SKU-1", "quantity": 1.5, "price": "1.00"}, "quantity"),
        ({"productId": "SKU-1", "quantity": 1, "price": "-0.01"}, "price"),
        ({"productId": "SKU-1", "quantity": 1, "price": "1.001"}, "price"),
        ({"productId": "SKU-1", "quantity": 1, "price": "NaN"}, "price"),
        ({"productId": "'; DROP TABLE--", "quantity": 1, "price": "1.00"}, "productId"),
    ],
)
def test_invalid_lines_are_refused_naming_the_field(item, field):
    with pytest.raises(ValidationError) as error:
        OrderItem.model_validate(item)
    assert error_fields(error.value) == {field}


def test_total_must_equal_the_sum_of_the_lines():
    with pytest.raises(ValidationError, match="totalAmount does not equal the sum of the lines"):
        OrderCreated.model_validate(order_created(totalAmount="45.00"))


def test_an_order_needs_at_least_one_line():
    with pytest.raises(ValidationError) as error:
        OrderCreated.model_validate(order_created(items=[], totalAmount="0"))
    assert "items" in error_fields(error.value)


def test_an_event_round_trips_through_json_unchanged():
    event = orders.created()
    assert parse_event(event.to_json()) == event
    assert parse_event(event.to_detail()) == event


def test_parse_event_uses_the_payload_model_of_its_type():
    detail = orders.created().to_detail()
    detail["eventType"] = "ORDER_CANCELLED"  # payload is an OrderCreated, not an OrderCancelled
    detail["metadata"]["schemaVersion"] = 1
    with pytest.raises(ValidationError):
        parse_event(detail)


def test_unknown_event_types_are_refused():
    detail = orders.created().to_detail() | {"eventType": "ORDER_TELEPORTED"}
    with pytest.raises(UnknownEventType, match="ORDER_TELEPORTED"):
        parse_event(detail)


def test_unknown_envelope_fields_are_refused():
    with pytest.raises(ValidationError) as error:
        parse_event(orders.created().to_detail() | {"extra": 1})
    assert "extra" in error_fields(error.value)


def test_timestamps_must_carry_a_timezone():
    with pytest.raises(ValidationError) as error:
        parse_event(orders.created().to_detail() | {"timestamp": "2026-11-26T10:00:00"})
    assert "timestamp" in error_fields(error.value)


def test_modules_that_define_pydantic_models_leave_annotations_evaluated():
    """A cold-start cut (docs/PERFORMANCE.md): under `from __future__ import annotations` every
    field's annotation is a string that pydantic compiles and evaluates when the class is made,
    about 20 ms across the catalog on each cold start."""
    import ast
    from pathlib import Path

    lambdas = Path(__file__).resolve().parents[2] / "lambdas"
    offenders = []
    for path in sorted(lambdas.rglob("*.py")):
        tree = ast.parse(path.read_text())
        models = any(
            isinstance(node, ast.ClassDef)
            and any(getattr(base, "id", "") in {"BaseModel", "_Body", "Payload"} for base in node.bases)
            for node in ast.walk(tree)
        )
        future = any(isinstance(node, ast.ImportFrom) and node.module == "__future__" for node in tree.body)
        if models and future:
            offenders.append(str(path.relative_to(lambdas)))
    assert offenders == []
