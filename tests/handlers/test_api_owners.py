"""Who may act on an order, as a hostile customer would try it: the customer is the token's
subject and nothing else, and another customer's order, stream or profile answers 404 as one
that does not exist. Each case here was reproduced against the API before it checked owners
(docs/SECURITY.md)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support import aws
from tests.support.api import call, claims

ADA, EVE = "sub-ada", "sub-eve"
LINES = [{"productId": "SKU-1", "quantity": 2, "price": "19.99"}]


@pytest.fixture
def orders_api(tables, lambda_context):
    from orders.api import handler

    aws.price({"SKU-1": "19.99"})
    return lambda method, path, **kw: call(handler, lambda_context, method, path, **kw)


@pytest.fixture
def inventory_api(tables, lambda_context):
    from inventory.api import handler

    return lambda method, path, **kw: call(handler, lambda_context, method, path, customer=None, **kw)


@pytest.fixture
def adas_order(orders_api, store) -> str:
    """An order Ada placed, projected into the read model."""
    from orders.read_model import OrdersReadModel
    from projection.projector import OrderProjector

    order_id = orders_api("POST", "/orders", body={"items": LINES}, customer=ADA).body["orderId"]
    OrderProjector(OrdersReadModel(aws.ORDERS), store).apply(store.load(order_id)[0])
    return order_id


def test_an_order_is_placed_in_the_name_of_the_token_never_of_the_body(orders_api, store):
    forged = orders_api("POST", "/orders", body={"customerId": ADA, "items": LINES}, customer=EVE)
    assert forged.status == 400
    assert [e["field"] for e in forged.body["errors"]] == ["customerId"]
    assert aws.item_count(aws.EVENT_STORE) == 1  # SKU-1's price alone

    placed = orders_api("POST", "/orders", body={"items": LINES}, customer=EVE)
    assert placed.status == 201
    assert store.load(placed.body["orderId"])[0].payload.customerId == EVE


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/orders/{id}", None),
        ("GET", "/orders/{id}/events", None),
        ("PUT", "/orders/{id}", {"items": LINES, "expectedVersion": 1}),
        ("POST", "/orders/{id}/cancel", {"reason": "a stranger's reason, mailed to the owner"}),
    ],
)
def test_another_customers_order_is_404_and_unchanged(orders_api, store, adas_order, method, path, body):
    probe = orders_api(method, path.format(id=adas_order), body=body, customer=EVE)
    assert probe.status == 404
    assert ADA not in str(probe.body) and "19.99" not in str(probe.body)
    unknown = orders_api(method, path.format(id="no-such-order"), body=body, customer=EVE)
    same_answer = unknown.body["message"].replace("no-such-order", adas_order)
    assert (unknown.status, same_answer) == (404, probe.body["message"])
    assert [e.eventType for e in store.load(adas_order)] == ["ORDER_CREATED"]
    # the owner still can: the refusal was about who asked
    assert orders_api(method, path.format(id=adas_order), body=body, customer=ADA).status == 200


def _registered(store, user_id: str) -> None:
    from catalog import Caller
    from users.service import UserService

    UserService(store, aws.USER_EMAILS).register(
        user_id=user_id, email=f"{user_id}@example.com", name="Ada", caller=Caller(user_id, "c")
    )


@pytest.mark.parametrize("stream", ["user:{ada}", "payment:{order}", "saga:{order}", "reservation:{order}"])
def test_the_events_route_cannot_name_another_aggregates_stream(orders_api, store, adas_order, stream):
    from catalog import EventType, new_event
    from catalog.payloads import PaymentRequested

    _registered(store, ADA)
    store.append(
        [
            new_event(
                EventType.PAYMENT_REQUESTED,
                aggregate_id=f"saga:{adas_order}",
                version=1,
                payload=PaymentRequested(currency="EUR", orderId=adas_order, customerId=ADA, amount=Decimal("39.98")),
                user_id="saga",
                correlation_id="c",
            )
        ]
    )
    path = f"/orders/{stream.format(ada=ADA, order=adas_order)}/events"
    for who in (EVE, ADA):  # not even its owner: the route serves order streams only
        answer = orders_api("GET", path, customer=who)
        assert answer.status == 400
        assert answer.body["errors"][0]["field"] == "id"
        assert "@example.com" not in str(answer.body)


def test_a_stream_under_a_bare_id_that_is_not_an_order_is_404(orders_api, store):
    """A user's or a product's stream kept under its bare id (before key spaces) is not an order."""
    from catalog import EventType, new_event
    from catalog.payloads import UserRegistered

    store.append(
        [
            new_event(
                EventType.USER_REGISTERED,
                aggregate_id="legacy-user",
                version=1,
                payload=UserRegistered(userId="legacy-user", email="ada@example.com", name="Ada"),
                user_id="legacy-user",
                correlation_id="c",
            )
        ]
    )
    for who in ("legacy-user", EVE):
        answer = orders_api("GET", "/orders/legacy-user/events", customer=who)
        assert answer.status == 404
        assert "ada@example.com" not in str(answer.body)


def test_an_idempotency_key_is_the_customers_own(orders_api, store):
    headers = {"Idempotency-Key": "checkout-shared-key"}
    adas = orders_api("POST", "/orders", body={"items": LINES}, headers=headers, customer=ADA)
    eves = orders_api("POST", "/orders", body={"items": LINES}, headers=headers, customer=EVE)
    assert adas.status == eves.status == 201
    assert eves.body["orderId"] != adas.body["orderId"]  # not Ada's order handed to Eve
    assert store.load(eves.body["orderId"])[0].payload.customerId == EVE
    again = orders_api("POST", "/orders", body={"items": LINES}, headers=headers, customer=ADA)
    assert again.body == adas.body  # and Ada's retry still finds hers


def test_a_customer_cannot_write_into_another_conversation_by_its_correlation_id(orders_api, store):
    adas = orders_api(
        "POST", "/orders", body={"items": LINES}, headers={"X-Correlation-Id": "checkout-1"}, customer=ADA
    )
    eves = orders_api(
        "POST", "/orders", body={"items": LINES}, headers={"X-Correlation-Id": "checkout-1"}, customer=EVE
    )
    adas_conversation = store.load(adas.body["orderId"])[0].metadata.correlationId
    eves_conversation = store.load(eves.body["orderId"])[0].metadata.correlationId
    assert adas_conversation.startswith("checkout-1") and eves_conversation.startswith("checkout-1")
    assert adas_conversation != eves_conversation
    assert ADA not in adas_conversation  # a digest of the customer, not their id, in every log line


@pytest.mark.parametrize("token", [{"token_use": "access"}, {"aud": "another-app-client"}])
def test_only_an_id_token_of_the_platforms_app_client_places_an_order(orders_api, token):
    answer = orders_api("POST", "/orders", body={"items": LINES}, customer=claims(ADA, **token))
    assert answer.status == 401
    assert aws.item_count(aws.EVENT_STORE) == 1  # SKU-1's price alone


@pytest.mark.parametrize("product", ["payment:order-1", "saga:order-1", "reservation:order-1", "user:sub-ada"])
def test_a_product_id_cannot_take_another_aggregates_stream(inventory_api, store, product):
    answer = inventory_api("PUT", f"/inventory/{product}", body={"quantity": 3})
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == "productId"
    assert aws.item_count(aws.EVENT_STORE) == 0
    # a product's own stream is in a key space of its own
    assert inventory_api("PUT", "/inventory/order-1", body={"quantity": 3}).status == 200
    assert store.load("order-1") == [] and len(store.load("product:order-1")) == 1
