"""The operator's tools on a deployed platform: a consumer fails and parks events, the fix is
deployed, redrive brings the system to the state it would have reached; the read model is
rebuilt from the event store; the archive is replayed without double effects."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from catalog import Source
from tests.e2e.conftest import (
    PARK_TIMEOUT,
    dead_letters,
    delivered,
    event_id,
    eventually,
    log_lines,
    parked,
    stored_examples,
    unique_day,
)

ORDER = {"items": [{"productId": "SKU-1", "quantity": 3}]}


def set_fault(deployment, consumer: str, event_types: str | None) -> None:
    """Deploy a broken (or the fixed) consumer, with the operator's tool."""
    result = deployment.tool("ops.fault", consumer, *(["--types", event_types] if event_types else []))
    assert result.returncode == 0, result.stderr


def daily(deployment, day: str) -> dict:
    return deployment.http("GET", f"/analytics/daily?date={day}").body


@pytest.fixture
def broken_analytics(deployment):
    set_fault(deployment, "Analytics", "ORDER_CREATED")
    yield "Analytics"
    set_fault(deployment, "Analytics", None)


def test_redrive_after_the_fix_reaches_the_state_nothing_failing_would_have(deployment, broken_analytics):
    day = unique_day()
    orders = [stored_examples(deployment, "order-created", day=day)[1] for _ in range(3)]
    for entries in orders:
        message = eventually(partial(parked, deployment, "Analytics", event_id(entries)), timeout=PARK_TIMEOUT)
        assert "fault injected" in message["responsePayload"]["errorMessage"]
    assert daily(deployment, day)["events"] == 0

    listing = deployment.tool("ops.redrive", "Analytics")
    assert listing.returncode == 0, listing.stderr
    assert all(event_id(entries) in listing.stdout for entries in orders)
    assert "dry run: nothing sent" in listing.stdout

    set_fault(deployment, broken_analytics, None)  # the fix is deployed
    applied = deployment.tool("ops.redrive", "Analytics", "--apply")
    assert "re-sent and deleted" in applied.stdout, applied.stdout + applied.stderr

    def all_counted():
        body = daily(deployment, day)
        assert body["ordersPlaced"] == 3, body
        return body

    body = eventually(all_counted, timeout=PARK_TIMEOUT)
    assert (body["events"], body["byCurrency"]["EUR"]["booked"]) == (3, "98.85")
    left = dead_letters(deployment, "Analytics")  # the whole queue, read to its last message
    assert not {event_id(entries) for entries in orders} & set(left)


def test_a_fold_batch_parked_and_redriven_after_the_stream_moved_on_leaves_the_counters_exact(deployment):
    """The fold fails every batch that counts an order's creation, until each is parked; the fix is
    deployed and the stream moves on (a later order's creation and cancellation are folded); the
    redrive then adds exactly what the parked batch had not: the counters are what they would be
    had nothing failed."""
    day = unique_day()
    set_fault(deployment, "AnalyticsFold", "ORDER_CREATED")
    try:
        stored_examples(deployment, "order-created", day=day)

        def batch_parked():
            listing = deployment.tool("ops.redrive", "AnalyticsFold")
            assert listing.returncode == 0 and "records" in listing.stdout, listing.stdout + listing.stderr
            return listing.stdout

        assert "stream batch" in eventually(batch_parked, timeout=PARK_TIMEOUT)
        assert daily(deployment, day)["events"] == 0
    finally:
        set_fault(deployment, "AnalyticsFold", None)  # the fix is deployed
    stored_examples(deployment, "order-created", "order-cancelled", day=day)  # the stream moves on

    def folded(events: int):
        def check():
            body = daily(deployment, day)
            assert body["events"] == events, body
            return body

        return check

    eventually(folded(2), timeout=PARK_TIMEOUT)
    redriven = deployment.tool("ops.redrive", "AnalyticsFold", "--apply")
    assert "re-sent and deleted" in redriven.stdout, redriven.stdout + redriven.stderr
    body = eventually(folded(3), timeout=PARK_TIMEOUT)
    assert (body["ordersPlaced"], body["ordersCancelled"]) == (2, 1)
    assert body["byCurrency"]["EUR"] == {
        "booked": "65.90",
        "cancelled": "32.95",
        "captured": "0.00",
        "refunded": "0.00",
        "netBooked": "32.95",
        "revenue": "0.00",
    }


def test_rebuild_restores_a_lost_read_model(deployment, tmp_path):
    order_id = deployment.http("POST", "/orders", ORDER).body["orderId"]
    deployment.http("POST", f"/orders/{order_id}/cancel", {"reason": "rebuild test"})

    def cancelled():
        body = deployment.http("GET", f"/orders/{order_id}").body
        assert body.get("status") == "CANCELLED", body
        # and its money settled: refunded, if the saga had asked for it before the cancellation
        asked = any(e["eventType"] == "PAYMENT_REQUESTED" for e in deployment.stream(f"saga:{order_id}"))
        assert body["payment"]["state"] == ("REFUNDED" if asked else "NONE"), body
        return body

    before = eventually(cancelled)
    table = deployment.outputs["OrdersTableName"]
    deployment.client("dynamodb").delete_item(TableName=table, Key={"orderId": {"S": order_id}})
    assert deployment.http("GET", f"/orders/{order_id}").status == 404

    result = deployment.tool("ops.rebuild")
    assert result.returncode == 0, result.stderr
    assert "rebuilt" in result.stdout and "written" in result.stdout
    assert deployment.http("GET", f"/orders/{order_id}").body == before

    again = deployment.tool("ops.rebuild")  # in place, twice: nothing left to write for this order
    assert again.returncode == 0, again.stderr
    assert deployment.http("GET", f"/orders/{order_id}").body == before

    fresh = f"orders-rebuilt-{uuid.uuid4().hex[:8]}"
    into = deployment.tool("ops.rebuild", "--into", fresh)
    assert into.returncode == 0, into.stderr
    item = deployment.client("dynamodb").get_item(TableName=fresh, Key={"orderId": {"S": order_id}})["Item"]
    assert (item["status"]["S"], item["version"]["N"]) == ("CANCELLED", "2")


def test_replaying_the_archive_applies_nothing_twice(deployment):
    day = unique_day()
    since = datetime.now(UTC) - timedelta(seconds=2)
    _, entries = stored_examples(deployment, "order-created", day=day)
    eventually(lambda: _counted(daily(deployment, day), 1))
    until = datetime.now(UTC) + timedelta(seconds=1)

    result = deployment.tool("ops.replay", "--since", since.isoformat(), "--until", until.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "state: COMPLETED" in result.stdout
    # the replay did deliver it again, and the consumers knew it: the audit log and analytics
    # handled it a second time and changed nothing...
    assert delivered(deployment, "Audit", event_id(entries), 2) == ["recorded", "already-recorded"]
    assert delivered(deployment, "Analytics", event_id(entries), 2) == ["counted", "already-counted"]
    # ...so the day still counts it once
    assert daily(deployment, day)["ordersPlaced"] == 1


def _counted(body: dict, expected: int) -> dict:
    assert body["ordersPlaced"] == expected, json.dumps(body)
    return body


# ---- the card network: called at most once a request, for ever -------------------------------


def card_network_calls(deployment, key: str) -> int:
    """How many times Payments called the card network with this idempotency key (it logs each)."""
    return len(log_lines(deployment, "Payments", "card network called", key))


def settled_order(deployment, quantity: int, stock: int) -> tuple[str, str]:
    """An order placed through the API and taken to its end by the saga: (its id, its status)."""
    sku = deployment.product(stock, "4.00")
    placed = deployment.http("POST", "/orders", {"items": [{"productId": sku, "quantity": quantity}]})
    assert placed.status == 201, placed.body
    order_id = placed.body["orderId"]

    def ended():
        body = deployment.http("GET", f"/orders/{order_id}").body
        assert body.get("status") in ("COMPLETED", "CANCELLED"), body
        return body["status"]

    return order_id, eventually(ended, timeout=60)


def stored_event(deployment, aggregate_id: str, version: int) -> dict:
    item = deployment.client("dynamodb").get_item(
        TableName=deployment.outputs["EventStoreTableName"],
        ConsistentRead=True,
        Key={"aggregateId": {"S": aggregate_id}, "version": {"N": str(version)}},
    )["Item"]
    return json.loads(item["detail"]["S"])


def test_replaying_and_redriving_answered_payments_never_reach_the_card_network_again(deployment):
    """A completed order's charge, and a cancelled one's charge and refund (one unit short): a
    replay of the archive over them, and a redrive of a dead letter of each request, deliver
    every request to Payments again, and it calls the card network for none of them."""
    since = datetime.now(UTC) - timedelta(seconds=2)
    completed, status = settled_order(deployment, quantity=1, stock=1)
    assert status == "COMPLETED"
    short, status = settled_order(deployment, quantity=2, stock=1)
    assert status == "CANCELLED"
    refund = eventually(lambda: stored_event(deployment, f"payment:{short}", 2))  # the refund's answer
    requests = [
        stored_event(deployment, f"saga:{completed}", 1),
        stored_event(deployment, f"saga:{short}", 1),
        stored_event(deployment, f"saga:{short}", 3),
    ]
    assert [r["eventType"] for r in requests] == ["PAYMENT_REQUESTED", "PAYMENT_REQUESTED", "PAYMENT_REFUND_REQUESTED"]
    keys = [f"charge:{completed}", f"charge:{short}", f"refund:{refund['payload']['paymentId']}"]
    assert [card_network_calls(deployment, key) for key in keys] == [1, 1, 1]  # the calls are seen

    until = datetime.now(UTC) + timedelta(seconds=1)
    replayed = deployment.tool("ops.replay", "--since", since.isoformat(), "--until", until.isoformat())
    assert replayed.returncode == 0 and "state: COMPLETED" in replayed.stdout, replayed.stdout + replayed.stderr
    for request in requests:
        assert delivered(deployment, "Payments", request["eventId"], 2)[1] in ("already-answered", "nothing-to-refund")

    queue = deployment.outputs["PaymentsDeadLetterQueueUrl"]
    for request in requests:  # each request parked as EventBridge parks an undeliverable event
        entry = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": request["eventType"],
            "source": Source.SAGA.value,
            "account": "000000000000",
            "time": request["timestamp"],
            "region": "us-east-1",
            "resources": [],
            "detail": request,
        }
        deployment.client("sqs").send_message(
            QueueUrl=queue,
            MessageBody=json.dumps(entry),
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": "SDKClientException"},
                "ERROR_MESSAGE": {"DataType": "String", "StringValue": "the target could not be reached"},
            },
        )
    redriven = deployment.tool("ops.redrive", "Payments", "--apply")
    assert "re-sent and deleted" in redriven.stdout, redriven.stdout + redriven.stderr
    for request in requests:
        assert delivered(deployment, "Payments", request["eventId"], 3)[2] in ("already-answered", "nothing-to-refund")
    assert [card_network_calls(deployment, key) for key in keys] == [1, 1, 1]
