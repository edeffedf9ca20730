"""The order fulfilment saga on a deployed platform: every path a customer can meet."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.conftest import PARK_TIMEOUT, delivered, eventually, fault, parked

SETTLED = {"COMPLETED", "CANCELLED"}


def product(deployment, quantity: int, price: str = "10.00") -> str:
    return deployment.product(quantity, price)


def place(deployment, sku: str, quantity: int = 1) -> tuple[str, str]:
    correlation = f"saga-{uuid.uuid4().hex[:12]}"
    response = deployment.http(
        "POST",
        "/orders",
        {"items": [{"productId": sku, "quantity": quantity}]},
        headers={"X-Correlation-Id": correlation},
    )
    assert response.status == 201, response.body
    # the conversation's id, as the API tagged it with the customer
    return response.body["orderId"], response.headers["X-Correlation-Id"]


def settled(deployment, order_id: str, timeout: float = 60) -> dict:
    def check():
        body = deployment.http("GET", f"/orders/{order_id}").body
        assert body.get("status") in SETTLED, body
        return body

    return eventually(check, timeout=timeout)


def stock(deployment, sku: str) -> tuple[int, int]:
    body = deployment.http("GET", f"/inventory/{sku}").body
    return body["available"], body["reserved"]


def shipped(deployment, sku: str, expected: tuple[int, int]) -> bool:
    """The stock once the completed orders' units have left it (their reservation shipped)."""
    assert stock(deployment, sku) == expected
    return True


def conversation(deployment, correlation: str) -> list[str]:
    return [e["eventType"] for e in deployment.http("GET", f"/audit/{correlation}").body.get("events", [])]


def has_happened(deployment, correlation: str, *event_types: str) -> list[str]:
    types = conversation(deployment, correlation)
    assert all(t in types for t in event_types), types
    return types


def test_happy_path_pays_reserves_and_completes(deployment):
    sku = product(deployment, 5)
    order_id, correlation = place(deployment, sku, quantity=2)
    order = settled(deployment, order_id)
    assert (order["status"], order["cancelReason"]) == ("COMPLETED", None)
    types = eventually(lambda: has_happened(deployment, correlation, "INVENTORY_SHIPPED"))
    assert types[:7] == [
        "ORDER_CREATED",
        "PAYMENT_REQUESTED",
        "PAYMENT_PROCESSED",
        "INVENTORY_RESERVATION_REQUESTED",
        "INVENTORY_UPDATED",
        "ORDER_COMPLETED",
        "INVENTORY_SHIPPED",
    ]
    assert stock(deployment, sku) == (3, 0)  # 3 on hand: its 2 reserved, then shipped


def test_a_declined_payment_cancels_the_order_with_the_reason(deployment):
    sku = product(deployment, 5, price="1200.00")
    order_id, _ = place(deployment, sku)
    order = settled(deployment, order_id)
    assert order["status"] == "CANCELLED"
    assert order["cancelReason"] == "payment declined: amount 1200.00 EUR exceeds the card limit of 1000.00 EUR"
    assert stock(deployment, sku) == (5, 0)


def test_insufficient_stock_refunds_the_payment_and_cancels(deployment):
    sku = product(deployment, 1)
    order_id, correlation = place(deployment, sku, quantity=2)
    order = settled(deployment, order_id)
    assert (order["status"], order["cancelReason"]) == ("CANCELLED", f"insufficient stock: {sku} short by 1")
    eventually(lambda: has_happened(deployment, correlation, "PAYMENT_REFUNDED"))
    assert stock(deployment, sku) == (1, 0)


def test_a_customer_cancellation_mid_saga_refunds_and_releases(deployment, stalled):
    sku = product(deployment, 4)
    stalled("InventoryReservations", "INVENTORY_RESERVATION_REQUESTED")
    order_id, correlation = place(deployment, sku, quantity=3)
    eventually(lambda: has_happened(deployment, correlation, "PAYMENT_PROCESSED", "INVENTORY_RESERVATION_REQUESTED"))

    cancel = deployment.http(
        "POST", f"/orders/{order_id}/cancel", {"reason": "found it cheaper"}, headers={"X-Correlation-Id": correlation}
    )  # the same conversation
    assert cancel.status == 200
    eventually(lambda: has_happened(deployment, correlation, "PAYMENT_REFUNDED"))
    assert settled(deployment, order_id)["cancelReason"] == "found it cheaper"

    # the stalled reservation still lands later (fixed, then redriven): it is released again
    eventually(lambda: _parked_reservation(deployment, correlation), timeout=PARK_TIMEOUT)
    fault(deployment, "InventoryReservations", None)
    redrive = deployment.tool("ops.redrive", "InventoryReservations", "--apply")
    assert redrive.returncode == 0, redrive.stdout + redrive.stderr
    eventually(lambda: has_happened(deployment, correlation, "INVENTORY_UPDATED", "INVENTORY_RELEASED"))
    assert stock(deployment, sku) == (4, 0)
    assert deployment.http("GET", f"/orders/{order_id}").body["status"] == "CANCELLED"


def _parked_reservation(deployment, correlation: str) -> dict:
    events = deployment.http("GET", f"/audit/{correlation}").body["events"]
    request = next(e for e in events if e["eventType"] == "INVENTORY_RESERVATION_REQUESTED")
    return parked(deployment, "InventoryReservations", request["eventId"])


def test_the_same_event_delivered_twice_moves_the_saga_once(deployment, put_events):
    sku = product(deployment, 5)
    order_id, correlation = place(deployment, sku)
    settled(deployment, order_id)
    events = deployment.client("dynamodb").query(
        TableName=deployment.outputs["EventStoreTableName"],
        KeyConditionExpression="aggregateId = :id",
        ExpressionAttributeValues={":id": {"S": f"payment:{order_id}"}},
        ConsistentRead=True,
    )["Items"]
    processed = events[0]
    put_events(
        [
            {
                "EventBusName": deployment.outputs["EventBusName"],
                "Source": processed["source"]["S"],
                "DetailType": processed["eventType"]["S"],
                "Detail": processed["detail"]["S"],
            }
        ]
        * 2
    )
    before = conversation(deployment, correlation)
    # once the saga has handled both copies (and found nothing due either time)...
    handled = delivered(deployment, "OrderSaga", json.loads(processed["detail"]["S"])["eventId"], 3)
    assert handled[1:] == ["no-change", "no-change"], handled
    assert conversation(deployment, correlation) == before  # ...no second reservation request, nothing new
    assert deployment.http("GET", f"/orders/{order_id}").body["version"] == 2
    assert eventually(lambda: shipped(deployment, sku, (4, 0)))


def test_two_orders_racing_for_the_last_unit(deployment):
    sku = product(deployment, 1)
    with ThreadPoolExecutor(2) as pool:
        placed = list(pool.map(lambda _: place(deployment, sku), range(2)))
    outcomes = sorted(settled(deployment, order_id)["status"] for order_id, _ in placed)
    assert outcomes == ["CANCELLED", "COMPLETED"]
    loser = next(c for (o, c) in placed if deployment.http("GET", f"/orders/{o}").body["status"] == "CANCELLED")
    eventually(lambda: has_happened(deployment, loser, "PAYMENT_REFUNDED"))
    assert eventually(lambda: shipped(deployment, sku, (0, 0)))  # the winner's unit reserved, then shipped


def test_a_saga_stuck_in_a_step_times_out_and_a_late_payment_is_refunded(deployment, stalled, tmp_path):
    sku = product(deployment, 5)
    stalled("Payments", "PAYMENT_REQUESTED")
    order_id, correlation = place(deployment, sku)
    eventually(lambda: has_happened(deployment, correlation, "PAYMENT_REQUESTED"))

    out = tmp_path / "sweep.json"
    result = deployment.aws(
        "lambda",
        "invoke",
        "--function-name",
        deployment.outputs.function_name("SagaSweep"),
        "--cli-binary-format",
        "raw-in-base64-out",
        "--payload",
        json.dumps({"timeoutSeconds": 0}),
        str(out),
    )
    assert "FunctionError" not in result, out.read_text()
    assert order_id in json.loads(out.read_text())["timedOut"]
    order = settled(deployment, order_id)
    assert (order["status"], order["cancelReason"]) == ("CANCELLED", "timed out waiting for payment")

    # the payment answers late (fixed, redriven): the saga refunds it
    request_id = next(
        e["eventId"]
        for e in deployment.http("GET", f"/audit/{correlation}").body["events"]
        if e["eventType"] == "PAYMENT_REQUESTED"
    )
    eventually(lambda: parked(deployment, "Payments", request_id), timeout=PARK_TIMEOUT)
    fault(deployment, "Payments", None)
    assert deployment.tool("ops.redrive", "Payments", "--apply").returncode == 0
    eventually(lambda: has_happened(deployment, correlation, "PAYMENT_PROCESSED", "PAYMENT_REFUNDED"))
