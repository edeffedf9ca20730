"""The whole flow on a deployed platform: API -> event store -> stream -> publisher -> bus ->
projection -> read model, and what happens to events that cannot be processed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import PARK_TIMEOUT, delivered, event_id, eventually, example_entries, logged, parked

ROOT = Path(__file__).resolve().parents[2]
ORDER = {
    "customerId": "cust-e2e",
    "items": [{"productId": "SKU-1", "quantity": 2, "price": "19.99"}, {"productId": "SKU-2", "quantity": 1, "price": "5.00"}],
}


def read_model_item(deployment, order_id: str) -> dict | None:
    """The order's read-model item as `aws dynamodb get-item` prints it; None when absent."""
    result = deployment.aws(
        "dynamodb", "get-item", "--table-name", deployment.outputs["OrdersTableName"],
        "--key", json.dumps({"orderId": {"S": order_id}}), "--consistent-read",
    )
    return (result or {}).get("Item")


def test_an_order_placed_through_the_api_reaches_the_read_model(deployment, saga_on_hold):
    created = deployment.http("POST", "/orders", ORDER, headers={"X-Correlation-Id": "e2e-flow-1"})
    assert created.status == 201, created.body
    order_id = created.body["orderId"]

    def projected():
        response = deployment.http("GET", f"/orders/{order_id}")
        assert response.status == 200, response.body
        return response.body

    order = eventually(projected)
    assert order["status"] == "PENDING"
    assert order["totalAmount"] == "44.98"
    assert order["version"] == 1

    updated = deployment.http("PUT", f"/orders/{order_id}", {"items": ORDER["items"][:1], "expectedVersion": 1})
    assert updated.status == 200
    cancelled = deployment.http("POST", f"/orders/{order_id}/cancel", {"reason": "e2e says so"})
    assert cancelled.body["version"] == 3

    def cancelled_in_read_model():
        body = projected()
        assert body["version"] == 3
        return body

    final = eventually(cancelled_in_read_model)
    assert (final["status"], final["cancelReason"], final["totalAmount"]) == ("CANCELLED", "e2e says so", "39.98")
    history = deployment.http("GET", f"/orders/{order_id}/events").body["events"]
    assert [e["eventType"] for e in history] == ["ORDER_CREATED", "ORDER_UPDATED", "ORDER_CANCELLED"]
    assert {e["metadata"]["correlationId"] for e in history[:1]} == {"e2e-flow-1"}


def test_a_stale_update_is_a_409_on_the_deployed_api(deployment, saga_on_hold):
    order_id = deployment.http("POST", "/orders", ORDER).body["orderId"]
    assert deployment.http("PUT", f"/orders/{order_id}", {"items": ORDER["items"], "expectedVersion": 1}).status == 200
    stale = deployment.http("PUT", f"/orders/{order_id}", {"items": ORDER["items"], "expectedVersion": 1})
    assert stale.status == 409
    assert stale.body["currentVersion"] == 2


def test_invalid_input_is_a_400_naming_the_field(deployment):
    response = deployment.http("POST", "/orders", {**ORDER, "items": [{"productId": "SKU-1", "quantity": 0, "price": "1"}]})
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "items.0.quantity"


def test_the_readme_sample_event_put_with_the_aws_cli_reaches_the_read_model(deployment):
    if deployment.outputs["EventBusName"] != "order-platform-dev":
        pytest.skip("the sample files address the dev bus")
    result = deployment.aws("events", "put-events", "--entries", f"file://{ROOT / 'events/order-created.json'}")
    assert result["FailedEntryCount"] == 0

    def projected():
        item = read_model_item(deployment, "sample-order-1")
        assert item
        return item

    item = eventually(projected)
    assert item["customerId"] == {"S": "cust-42"}
    # the README's samples share this order: a later sample (order-updated.json, version 2) may
    # have moved it on; whichever version it is at, its total is that version's
    assert item["totalAmount"]["N"] == {"1": "32.95", "2": "25"}[item["version"]["N"]]


def test_an_event_put_with_the_aws_cli_reaches_its_consumer(deployment, put_events):
    order_id, entries = example_entries(deployment, "order-created")
    put_events(entries)

    def projected():
        item = read_model_item(deployment, order_id)
        assert item
        return item

    assert eventually(projected)["status"] == {"S": "PENDING"}
    # delivered again (at-least-once): once the projection has handled the second delivery
    # too, the read model has not changed
    put_events(entries)
    assert delivered(deployment, "OrdersProjection", event_id(entries), 2) == ["applied", "already-applied"]
    assert read_model_item(deployment, order_id)["version"] == {"N": "1"}


def test_a_malformed_event_is_parked_with_its_reason_and_nothing_else_is_affected(deployment, put_events):
    bad_id, bad = example_entries(deployment, "order-created-bad-total")
    good_id, good = example_entries(deployment, "order-created")
    put_events(bad + good)  # one call, two entries

    message = eventually(lambda: parked(deployment, "OrdersProjection", event_id(bad)), timeout=PARK_TIMEOUT)
    assert message["requestContext"]["condition"] == "RetriesExhausted"
    assert "does not equal the sum of the lines" in message["responsePayload"]["errorMessage"]
    assert read_model_item(deployment, bad_id) is None

    def good_projected():
        item = read_model_item(deployment, good_id)
        assert item
        return item

    assert eventually(good_projected)["version"] == {"N": "1"}


def test_a_failing_consumers_event_ends_up_in_its_on_failure_destination(deployment, put_events):
    # A valid ORDER_UPDATED whose order does not exist anywhere: the projection cannot apply
    # it, fails every attempt, and Lambda parks it with the error once retries are exhausted.
    order_id, entries = example_entries(deployment, "order-updated")
    put_events(entries)
    message = eventually(lambda: parked(deployment, "OrdersProjection", event_id(entries)), timeout=PARK_TIMEOUT)
    assert message["requestContext"]["approximateInvokeCount"] == 3  # as the on-failure record counts them...
    # ...and as the function saw it: the first try and 2 retries, each logged as it failed
    assert eventually(lambda: _exactly(logged(deployment, "OrdersProjection", "event failed", event_id(entries)), 3)) == 3
    assert "arrived before v1..v1" in message["responsePayload"]["errorMessage"]


def test_a_deployed_function_answers_aws_lambda_invoke(deployment, tmp_path):
    out = tmp_path / "out.json"
    result = deployment.aws(
        "lambda", "invoke", "--function-name", deployment.outputs.function_name("OrdersProjection"),
        "--cli-binary-format", "raw-in-base64-out", "--payload", f"file://{ROOT / 'events/lambda/order-created.json'}",
        str(out),
    )
    assert result["StatusCode"] == 200
    assert "FunctionError" not in result
    assert json.loads(out.read_text())["orderId"] == "sample-order-1"


def test_an_unsigned_request_is_refused(deployment):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(deployment.outputs.api_url + "/orders", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def _exactly(value: int, expected: int) -> int:
    assert value == expected, value
    return value
