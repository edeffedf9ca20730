"""The orders API as a client sees it: status codes, bodies, and what lands in the store."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.support import aws
from tests.support.api import call

ORDER = {
    "items": [
        {"productId": "SKU-1", "quantity": 2, "price": "19.99"},
        {"productId": "SKU-2", "quantity": 1, "price": 5},
    ],
}


PRICES = {"SKU-1": "19.99", "SKU-2": "5.00"}  # the catalog of every test here (others price their own)


def orders_stored() -> int:
    """The event store's items less the catalog's prices set before the test."""
    return aws.item_count(aws.EVENT_STORE) - len(PRICES)


@pytest.fixture
def api(tables, lambda_context):
    from orders.api import handler

    aws.price(PRICES)
    return lambda method, path, **kw: call(handler, lambda_context, method, path, **kw)


@pytest.fixture
def events_in_store(tables):
    from eventstore.store import EventStore

    def count(order_id: str) -> int:
        return len(EventStore("test-event-store").load(order_id))

    return count


def test_post_creates_an_order_and_its_first_event(api):
    response = api("POST", "/orders", body=ORDER)
    assert response.status == 201
    order_id = response.body["orderId"]
    assert response.body["version"] == 1
    assert response.headers["Location"] == f"/orders/{order_id}"

    history = api("GET", f"/orders/{order_id}/events")
    assert history.status == 200
    [created] = history.body["events"]
    assert created["eventType"] == "ORDER_CREATED"
    assert created["payload"]["totalAmount"] == "44.98"
    assert created["metadata"]["version"] == 1


def test_the_correlation_id_of_the_caller_is_carried_into_the_event_tagged_with_the_customer(api):
    response = api("POST", "/orders", body=ORDER, headers={"X-Correlation-Id": "checkout-42"})
    scoped = response.headers["X-Correlation-Id"]
    assert scoped.startswith("checkout-42.c")
    [created] = api("GET", f"/orders/{response.body['orderId']}/events").body["events"]
    assert created["metadata"]["correlationId"] == scoped
    # the id it was answered with, sent back, is the same conversation (not tagged twice)
    cancel = api("POST", f"/orders/{response.body['orderId']}/cancel", headers={"X-Correlation-Id": scoped})
    assert cancel.headers["X-Correlation-Id"] == scoped


def test_the_correlation_header_is_found_in_any_case(api):
    response = api("POST", "/orders", body=ORDER, headers={"x-correlation-id": "lower-7"})
    [created] = api("GET", f"/orders/{response.body['orderId']}/events").body["events"]
    assert created["metadata"]["correlationId"].startswith("lower-7.c")


def test_a_malformed_correlation_id_is_replaced_by_the_request_id(api):
    response = api("POST", "/orders", body=ORDER, headers={"X-Correlation-Id": "<script>alert(1)</script>"})
    assert response.headers["X-Correlation-Id"] == "req-0001"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ORDER, "customerId": "cust-1"}, "customerId"),  # the customer is the token's, never the body's
        ({**ORDER, "items": []}, "items"),
        ({**ORDER, "items": [{"productId": "SKU-1", "quantity": 0, "price": "1.00"}]}, "items.0.quantity"),
        ({**ORDER, "items": [{"productId": "SKU-1", "quantity": 1, "price": "-1"}]}, "items.0.price"),
        ({**ORDER, "items": [{"productId": "SKU-1", "quantity": "2", "price": "1.00"}]}, "items.0.quantity"),
        ({**ORDER, "items": [{"productId": "SKU-UNPRICED", "quantity": 1}]}, "items.0.productId"),  # not for sale
        ({**ORDER, "currency": "USD"}, "items.0.productId"),  # priced in euros only
        ({**ORDER, "items": [{"productId": "<script>", "quantity": 1, "price": "1"}]}, "items.0.productId"),
        ({**ORDER, "unexpected": True}, "unexpected"),
        ({**ORDER, "currency": "XXX"}, "currency"),  # an ISO code, but not one orders are taken in
    ],
)
def test_invalid_orders_get_400_naming_the_field_and_write_nothing(api, body, field):
    response = api("POST", "/orders", body=body)
    assert response.status == 400
    assert field in [e["field"] for e in response.body["errors"]]
    assert orders_stored() == 0


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "", "null"])
def test_a_body_that_is_not_a_json_object_is_a_400_on_body(api, raw):
    response = api("POST", "/orders", raw_body=raw)
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "body"


def test_an_oversized_body_is_refused(api):
    response = api("POST", "/orders", raw_body='{"items": "' + "x" * 70_000 + '"}')
    assert response.status == 413


def test_update_with_the_current_version_appends_the_next(api):
    order_id = api("POST", "/orders", body=ORDER).body["orderId"]
    response = api("PUT", f"/orders/{order_id}", body={"items": ORDER["items"][:1], "expectedVersion": 1})
    assert response.status == 200
    assert response.body["version"] == 2
    events = api("GET", f"/orders/{order_id}/events").body["events"]
    assert events[1]["eventType"] == "ORDER_UPDATED"
    assert events[1]["payload"]["totalAmount"] == "39.98"


def test_update_with_a_stale_version_is_a_409_and_writes_nothing(api, events_in_store):
    order_id = api("POST", "/orders", body=ORDER).body["orderId"]
    api("PUT", f"/orders/{order_id}", body={"items": ORDER["items"], "expectedVersion": 1})
    response = api("PUT", f"/orders/{order_id}", body={"items": ORDER["items"][:1], "expectedVersion": 1})
    assert response.status == 409
    assert response.body["currentVersion"] == 2
    assert events_in_store(order_id) == 2


def test_cancel_records_the_reason_and_then_refuses_further_changes(api, events_in_store):
    order_id = api("POST", "/orders", body=ORDER).body["orderId"]
    cancelled = api("POST", f"/orders/{order_id}/cancel", body={"reason": "found it cheaper"})
    assert cancelled.status == 200
    assert cancelled.body["version"] == 2

    again = api("POST", f"/orders/{order_id}/cancel")
    assert again.status == 409
    assert "cancelled" in again.body["message"]
    update = api("PUT", f"/orders/{order_id}", body={"items": ORDER["items"], "expectedVersion": 2})
    assert update.status == 409
    assert events_in_store(order_id) == 2


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/orders/no-such-order", None),
        ("GET", "/orders/no-such-order/events", None),
        ("PUT", "/orders/no-such-order", {"items": ORDER["items"], "expectedVersion": 1}),
        ("POST", "/orders/no-such-order/cancel", None),
    ],
)
def test_unknown_orders_are_404(api, method, path, body):
    response = api(method, path, body=body)
    assert response.status == 404
    assert "no-such-order" in response.body["message"]


def test_an_id_with_injection_characters_is_a_400_on_id(api):
    response = api("GET", "/orders/a'OR'1'='1")
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "id"


def test_get_reads_the_read_model(api, tables):
    from eventstore.store import EventStore
    from orders.read_model import OrdersReadModel
    from projection.projector import OrderProjector

    store = EventStore("test-event-store")
    order_id = api("POST", "/orders", body=ORDER).body["orderId"]
    assert api("GET", f"/orders/{order_id}").status == 404  # not projected yet: eventually consistent

    OrderProjector(OrdersReadModel("test-orders"), store).apply(store.load(order_id)[0])
    response = api("GET", f"/orders/{order_id}")
    assert response.status == 200
    assert response.body["status"] == "PENDING"
    assert response.body["totalAmount"] == "44.98"
    assert response.body["items"][0] == {"productId": "SKU-1", "quantity": 2, "price": "19.99"}


def test_the_same_idempotency_key_returns_the_first_answer_and_creates_one_order(api):
    headers = {"Idempotency-Key": "checkout-7f3a9c"}
    first = api("POST", "/orders", body=ORDER, headers=headers)
    second = api("POST", "/orders", body=ORDER, headers=headers)
    assert first.status == second.status == 201
    assert second.body == first.body
    other = api("POST", "/orders", body=ORDER, headers={"Idempotency-Key": "checkout-other1"})
    assert other.body["orderId"] != first.body["orderId"]


def test_a_keyed_order_whose_run_died_before_its_record_is_found_again_not_placed_twice(api, monkeypatch):
    """The run appended ORDER_CREATED and died (timeout, crash) before its idempotency record
    said so; the retry runs the command again and must answer with that order."""
    import boto3
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
    from aws_lambda_powertools.utilities.idempotency.persistence.dynamodb import DynamoDBPersistenceLayer

    from tests.support import aws

    headers = {"Idempotency-Key": "checkout-crash-1"}
    save_success = DynamoDBPersistenceLayer.save_success

    def die(*args, **kwargs):
        raise TimeoutError("the function timed out after the append")

    monkeypatch.setattr(DynamoDBPersistenceLayer, "save_success", die)
    with pytest.raises(IdempotencyPersistenceLayerError):
        api("POST", "/orders", body=ORDER, headers=headers)
    monkeypatch.setattr(DynamoDBPersistenceLayer, "save_success", save_success)
    assert orders_stored() == 1
    # the run's in-progress record lapses with the function's timeout
    dynamodb = boto3.client("dynamodb")
    for item in dynamodb.scan(TableName=aws.IDEMPOTENCY)["Items"]:
        dynamodb.delete_item(TableName=aws.IDEMPOTENCY, Key={"id": item["id"]})
    retry = api("POST", "/orders", body=ORDER, headers=headers)
    assert retry.status == 201
    assert orders_stored() == 1
    assert api("GET", f"/orders/{retry.body['orderId']}/events").body["events"][0]["eventId"] == retry.body["eventId"]


def test_reusing_an_idempotency_key_with_another_body_is_refused(api):
    headers = {"Idempotency-Key": "checkout-7f3a9c"}
    api("POST", "/orders", body=ORDER, headers=headers)
    response = api("POST", "/orders", body={**ORDER, "currency": "USD"}, headers=headers)
    assert response.status == 422


def test_a_malformed_idempotency_key_is_a_400(api):
    response = api("POST", "/orders", body=ORDER, headers={"Idempotency-Key": "short"})
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "Idempotency-Key"


def test_an_order_of_as_many_lines_as_its_reservation_can_hold_completes(api, store, lambda_context):
    """Its lines are reserved in one transaction (an answer and a stock update a product, within
    DynamoDB's 100 actions): 99 products complete, as one would; 100 are a 400 naming the limit
    (they were taken once, and their reservation failed on every retry)."""
    from catalog import Caller
    from inventory.reservations import Reservations
    from inventory.stock import Stock
    from orders.api import MAX_LINES
    from payments.handler import provider
    from saga.coordinator import SagaCoordinator
    from tests.handlers.test_saga import run_to_the_end

    assert MAX_LINES == 99
    lines: list[dict[str, Any]] = [
        {"productId": f"SKU-{n}", "quantity": 1, "price": "1.00"} for n in range(MAX_LINES + 1)
    ]
    refused = api("POST", "/orders", body={"items": lines})
    assert refused.status == 400 and refused.body["errors"][0]["field"] == "items"
    assert "at most 99" in refused.body["errors"][0]["message"]
    assert orders_stored() == 0

    aws.price({line["productId"]: "1.00" for line in lines[:MAX_LINES]})
    for line in lines[:MAX_LINES]:
        Stock(store, aws.INVENTORY).set(line["productId"], 1, caller=Caller("staff", "setup"))
    placed = api("POST", "/orders", body={"items": lines[:MAX_LINES]})
    assert placed.status == 201
    order_id = placed.body["orderId"]
    saga = SagaCoordinator(store)
    [created] = store.load(order_id)
    saga.handle(created)
    run_to_the_end(saga, store, provider(), Reservations(store, aws.INVENTORY), order_id=order_id)
    assert [e.eventType for e in store.load(order_id)] == ["ORDER_CREATED", "ORDER_COMPLETED"]
    assert len(store.load(f"reservation:{order_id}")[0].payload.lines) == MAX_LINES


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_total_over_what_an_amount_holds_is_a_400_naming_the_lines(api, method):
    """10,000 x 9,999,999,999.99 overflowed the total's 12 digits inside the event: a 502."""
    order_id = api("POST", "/orders", body=ORDER).body["orderId"]
    aws.price({"SKU-DEAR": "9999999999.99"})
    huge = {"items": [{"productId": "SKU-DEAR", "quantity": 10_000}]}
    path, body = ("/orders", huge) if method == "POST" else (f"/orders/{order_id}", {**huge, "expectedVersion": 1})
    response = api(method, path, body=body)
    assert response.status == 400, response.body
    assert response.body["errors"][0]["field"] == "items"
    assert "over the largest an order may be, 9999999999.99" in response.body["errors"][0]["message"]
    assert orders_stored() == 2  # the first order, and SKU-DEAR's price
    just = {"items": [{"productId": "SKU-DEAR", "quantity": 1, "price": "9999999999.99"}]}
    assert api("POST", "/orders", body=just).status == 201


@pytest.mark.parametrize(
    ("reason", "status", "said"),
    [
        ("TransactionConflict", 409, "another under way"),
        ("ThrottlingError", 503, "busy (ThrottlingError)"),
        ("ProvisionedThroughputExceeded", 503, "busy (ProvisionedThroughputExceeded)"),
    ],
)
def test_a_change_whose_transaction_was_cancelled_says_why_as_a_409_or_a_503(
    tables, lambda_context, monkeypatch, reason, status, said
):
    """DynamoDB cancels a whole transaction (TransactionCanceledException) and gives each
    action's reason. A change and the saga's request are transactions on one item (`saga:<id>`
    v1): a TransactionConflict is a 409 to read again and retry. An action throttled makes the
    platform busy, as for a throttled call: a 503 with Retry-After. Neither is a 5xx fault, and
    nothing was written (moto never cancels so: the client's answer stands in)."""
    from botocore.exceptions import ClientError

    from orders.api import handler
    from orders.api import store as api_store

    aws.price(PRICES)
    line = {"productId": "SKU-1", "quantity": 1, "price": "19.99"}
    order_id = call(handler, lambda_context, "POST", "/orders", body={"items": [line]}).body["orderId"]

    def cancelled(**_):
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "None"}, {"Code": reason}],
            },
            "TransactWriteItems",
        )

    monkeypatch.setattr(api_store()._client, "transact_write_items", cancelled)
    changed = call(handler, lambda_context, "PUT", f"/orders/{order_id}", body={"items": [line], "expectedVersion": 1})
    assert changed.status == status, changed.body
    assert said in changed.body["message"]
    if status == 503:
        assert changed.headers["Retry-After"] == "1"


def test_lines_of_one_product_over_what_a_reservation_takes_are_a_400(api):
    """Two lines of 6,000 units of one product were taken, charged, and then could never be
    reserved (one reservation line is at most 10,000): the order waited for ever, paid."""
    line = {"productId": "SKU-1", "quantity": 6000}
    refused = api("POST", "/orders", body={"items": [line, line]})
    assert refused.status == 400 and refused.body["errors"][0]["field"] == "items"
    assert "more than one reservation takes (10000)" in refused.body["errors"][0]["message"]
    assert orders_stored() == 0
    assert api("POST", "/orders", body={"items": [line, {**line, "quantity": 4000}]}).status == 201


# ---- the price is the catalog's --------------------------------------------------------------


def test_an_order_is_priced_from_the_catalog_not_the_body(api):
    placed = api("POST", "/orders", body={"items": [{"productId": "SKU-1", "quantity": 2}]})
    assert placed.status == 201, placed.body
    [created] = api("GET", f"/orders/{placed.body['orderId']}/events").body["events"]
    assert created["payload"]["items"] == [{"productId": "SKU-1", "quantity": 2, "price": "19.99"}]
    assert created["payload"]["totalAmount"] == "39.98"


def test_a_shown_price_that_is_not_the_catalogs_is_a_409_with_the_current_prices_and_nothing_ordered(api):
    cheap = {
        "items": [
            {"productId": "SKU-2", "quantity": 1, "price": "5.00"},
            {"productId": "SKU-1", "quantity": 40, "price": "0.01"},
        ]
    }
    refused = api("POST", "/orders", body=cheap)
    assert refused.status == 409, refused.body
    assert refused.body["errors"] == [{"field": "items.1.price", "message": "the price is now 19.99"}]
    assert refused.body["items"] == [
        {"productId": "SKU-2", "quantity": 1, "price": "5.00"},
        {"productId": "SKU-1", "quantity": 40, "price": "19.99"},
    ]
    assert orders_stored() == 0
    # shown the current prices, the customer's client sends them, and the order is taken
    assert api("POST", "/orders", body={"items": refused.body["items"]}).status == 201


def test_a_price_change_alters_no_order_placed_and_an_update_keeps_the_units_placed_at_their_price(api):
    placed = api("POST", "/orders", body={"items": [{"productId": "SKU-1", "quantity": 1, "price": "19.99"}]})
    order_id = placed.body["orderId"]
    aws.price({"SKU-1": "25.00", "SKU-2": "6.00"})  # staff raise both prices

    [created] = api("GET", f"/orders/{order_id}/events").body["events"]
    assert created["payload"]["totalAmount"] == "19.99"
    # the unit placed keeps its price; the one added, and the product added, are priced today
    changed = api(
        "PUT",
        f"/orders/{order_id}",
        body={
            "expectedVersion": 1,
            "items": [{"productId": "SKU-1", "quantity": 2}, {"productId": "SKU-2", "quantity": 1}],
        },
    )
    assert changed.status == 200, changed.body
    updated = api("GET", f"/orders/{order_id}/events").body["events"][1]["payload"]
    assert updated["items"] == [
        {"productId": "SKU-1", "quantity": 1, "price": "19.99"},
        {"productId": "SKU-1", "quantity": 1, "price": "25.00"},
        {"productId": "SKU-2", "quantity": 1, "price": "6.00"},
    ]
    assert updated["totalAmount"] == "50.99"
    # shown the old price for more units than were placed at it: refused with what they cost now
    stale = api(
        "PUT",
        f"/orders/{order_id}",
        body={"expectedVersion": 2, "items": [{"productId": "SKU-1", "quantity": 3, "price": "19.99"}]},
    )
    assert stale.status == 409 and stale.body["errors"][0] == {
        "field": "items.0.price",
        "message": "the price is now 19.99 for 1 and 25.00 for 2",
    }


def test_an_update_buys_no_more_units_at_a_price_since_raised(api, store):
    """One unit placed at 10.00; staff raise it to 20.00; the customer changes the order to 10,000
    units: 9,999 of them at 20.00 (they were charged 10.00 each once)."""
    aws.price({"SKU-3": "10.00"})
    order_id = api("POST", "/orders", body={"items": [{"productId": "SKU-3", "quantity": 1}]}).body["orderId"]
    aws.price({"SKU-3": "20.00"})
    changed = api(
        "PUT", f"/orders/{order_id}", body={"items": [{"productId": "SKU-3", "quantity": 10000}], "expectedVersion": 1}
    )
    assert changed.status == 200, changed.body
    assert store.load(order_id)[-1].payload.totalAmount == Decimal("199990.00")


def test_an_order_is_taken_in_a_currency_its_products_are_priced_in(api):
    aws.price({"SKU-1": "21.50"}, currency="USD")
    placed = api("POST", "/orders", body={"currency": "USD", "items": [{"productId": "SKU-1", "quantity": 2}]})
    assert placed.status == 201, placed.body
    [created] = api("GET", f"/orders/{placed.body['orderId']}/events").body["events"]
    assert (created["payload"]["currency"], created["payload"]["totalAmount"]) == ("USD", "43.00")
    refused = api("POST", "/orders", body={"currency": "USD", "items": [{"productId": "SKU-2", "quantity": 1}]})
    assert refused.status == 400
    assert refused.body["errors"] == [{"field": "items.0.productId", "message": "SKU-2 is not for sale in USD"}]


def test_a_keyed_order_repeated_after_a_price_change_answers_as_the_first_time(api):
    key = {"Idempotency-Key": "price-change-0001"}
    body = {"items": [{"productId": "SKU-1", "quantity": 1, "price": "19.99"}]}
    first = api("POST", "/orders", body=body, headers=key)
    aws.price({"SKU-1": "25.00"})
    again = api("POST", "/orders", body=body, headers=key)
    assert (again.status, again.body) == (first.status, first.body)
