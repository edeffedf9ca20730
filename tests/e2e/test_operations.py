"""The operator's tools on a deployed platform: a consumer fails and parks events, the fix is
deployed, redrive brings the system to the state it would have reached; the read model is
rebuilt from the event store; the archive is replayed without double effects."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.conftest import (PARK_TIMEOUT, dead_letters, delivered, event_id, eventually, example_entries, parked,
                                unique_day)

ORDER = {"items": [{"productId": "SKU-1", "quantity": 3, "price": "2.50"}]}


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


def test_redrive_after_the_fix_reaches_the_state_nothing_failing_would_have(deployment, put_events, broken_analytics):
    day = unique_day()
    orders = [example_entries(deployment, "order-created", day=day)[1] for _ in range(3)]
    put_events([entry for entries in orders for entry in entries])
    for entries in orders:
        message = eventually(lambda: parked(deployment, "Analytics", event_id(entries)), timeout=PARK_TIMEOUT)
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
    assert (body["events"], body["bookedRevenue"]) == (3, "98.85")
    left = dead_letters(deployment, "Analytics")  # the whole queue, read to its last message
    assert not {event_id(entries) for entries in orders} & set(left)


def test_rebuild_restores_a_lost_read_model(deployment, tmp_path):
    order_id = deployment.http("POST", "/orders", ORDER).body["orderId"]
    deployment.http("POST", f"/orders/{order_id}/cancel", {"reason": "rebuild test"})

    def cancelled():
        body = deployment.http("GET", f"/orders/{order_id}").body
        assert body.get("status") == "CANCELLED", body
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


def test_replaying_the_archive_applies_nothing_twice(deployment, put_events):
    day = unique_day()
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    _, entries = example_entries(deployment, "order-created", day=day)
    put_events(entries)
    eventually(lambda: _counted(daily(deployment, day), 1))
    until = datetime.now(timezone.utc) + timedelta(seconds=1)

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
