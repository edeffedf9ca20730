"""The user and inventory producers and the email, analytics and audit consumers, deployed:
each effect happens once, however often its event is delivered."""

from __future__ import annotations

import json
import urllib.request
import uuid

import boto3

from tests.e2e.conftest import ON_AWS, delivered, event_id, eventually, stored_examples, unique_day


def email_log(deployment, key: str) -> dict | None:
    item = deployment.client("dynamodb").get_item(
        TableName=deployment.outputs["EmailLogTableName"], Key={"id": {"S": key}}, ConsistentRead=True
    )
    return item.get("Item")


def stored_event(deployment, aggregate_id: str, version: int = 1) -> dict:
    item = deployment.client("dynamodb").get_item(
        TableName=deployment.outputs["EventStoreTableName"],
        Key={"aggregateId": {"S": aggregate_id}, "version": {"N": str(version)}},
        ConsistentRead=True,
    )["Item"]
    return {
        "EventBusName": deployment.outputs["EventBusName"],
        "Source": item["source"]["S"],
        "DetailType": item["eventType"]["S"],
        "Detail": item["detail"]["S"],
    }


# The user pool's own sender: on sign-up the local Cognito mails its verification code through the
# local SES (AWS's Cognito mails it from outside the account), which is not the platform's mail.
USER_POOL_SENDER = "no-reply@verificationemail.com"


def local_emails_to(deployment, address: str) -> list[dict]:
    """What the platform sent this address through the local cloud's SES (MiniStack's inspection
    endpoint), leaving out the user pool's verification mail."""
    with urllib.request.urlopen(f"{deployment.endpoint}/_ministack/ses/messages", timeout=10) as response:
        accounts = json.loads(response.read())["messages"]
    return [
        m for messages in accounts.values() for m in messages if address in m["To"] and m["Source"] != USER_POOL_SENDER
    ]


def daily(deployment, day: str) -> dict:
    response = deployment.http("GET", f"/analytics/daily?date={day}")
    assert response.status == 200, response.body
    return response.body


def test_a_registered_user_gets_exactly_one_welcome_email(deployment, put_events):
    grace = deployment.sign_up("grace")
    address = grace.email
    registered = deployment.http("POST", "/users", {"name": "Grace"}, customer=grace)
    assert registered.status == 201, registered.body
    assert registered.body["userId"] == grace.id
    assert deployment.http("POST", "/users", {"name": "Copy"}, customer=grace).status == 409

    sent = eventually(lambda: _status(email_log(deployment, f"sent#{registered.body['eventId']}"), "SENT"))
    assert sent["to"] == {"S": address}
    assert sent["subject"] == {"S": "Welcome, Grace"}

    put_events([stored_event(deployment, f"user:{grace.id}")])  # the same event, delivered again
    assert delivered(deployment, "Email", registered.body["eventId"], 2) == ["sent", "sent"]  # the first one's answer
    if not ON_AWS:
        assert len(local_emails_to(deployment, address)) == 1


def test_order_emails_reach_a_registered_customer(deployment):
    buyer = deployment.sign_up("buyer")
    address = buyer.email
    user_id = deployment.http("POST", "/users", {"name": "Buyer"}, customer=buyer).body["userId"]
    eventually(lambda: email_log(deployment, f"contact#{user_id}") or _missing())
    order = deployment.http(
        "POST", "/orders", {"items": [{"productId": "SKU-9", "quantity": 1, "price": "9.99"}]}, customer=buyer
    )
    order_id = order.body["orderId"]
    # the cancellation may reach Email before the order's creation: it finds the customer in the
    # event store either way
    deployment.http("POST", f"/orders/{order_id}/cancel", {"reason": "changed my mind"}, customer=buyer)
    if not ON_AWS:
        subjects = eventually(lambda: _at_least(sorted(m["Subject"] for m in local_emails_to(deployment, address)), 3))
        assert subjects == sorted(
            ["Welcome, Buyer", f"We received your order {order_id}", f"Your order {order_id} was cancelled"]
        )


def test_setting_stock_is_published_and_readable(deployment):
    product = f"SKU-{uuid.uuid4().hex[:10]}"
    correlation = f"stock-{uuid.uuid4().hex[:10]}"
    response = deployment.http(
        "PUT", f"/inventory/{product}", {"quantity": 40}, headers={"X-Correlation-Id": correlation}
    )
    assert response.status == 200
    assert deployment.http("PUT", f"/inventory/{product}", {"quantity": -1}).status == 400
    stock = deployment.http("GET", f"/inventory/{product}").body
    assert (stock["available"], stock["version"]) == (40, 1)

    chain = eventually(lambda: _ok(deployment.http("GET", f"/audit/{correlation}")))
    assert [(e["eventType"], e["aggregateId"]) for e in chain["events"]] == [
        ("INVENTORY_ADJUSTED", f"product:{product}")
    ]  # a product's stream, in a key space of its own


def test_analytics_count_every_event_once(deployment, put_events):
    day = unique_day()
    _, events = stored_examples(deployment, "order-created", "order-cancelled", day=day)
    put_events(events[:1])  # the order's creation delivered again, by hand

    def counted():
        body = daily(deployment, day)
        assert body["events"] == 2, body
        return body

    eventually(counted)
    # the duplicate handled too, and known for one: the counters cannot have moved since
    assert delivered(deployment, "Analytics", event_id(events[:1]), 2) == ["counted", "already-counted"]
    body = daily(deployment, day)
    assert (body["ordersPlaced"], body["ordersCancelled"]) == (1, 1)
    assert body["byCurrency"] == {
        "EUR": {
            "booked": "32.95",
            "cancelled": "32.95",
            "captured": "0.00",
            "refunded": "0.00",
            "netBooked": "0.00",
            "revenue": "0.00",
        }
    }
    assert body["byEventType"] == {"ORDER_CANCELLED": 1, "ORDER_CREATED": 1}
    assert deployment.http("GET", "/analytics/daily?date=26-11-2026").status == 400


def test_the_audit_log_tells_one_conversation_and_make_trace_draws_it(deployment, saga_on_hold):
    placed = deployment.http(
        "POST",
        "/orders",
        {"items": [{"productId": "SKU-1", "quantity": 1}]},
        headers={"X-Correlation-Id": f"checkout-{uuid.uuid4().hex[:10]}"},
    )
    order = placed.body
    correlation = placed.headers["X-Correlation-Id"]  # the customer's own id, tagged with who they are
    headers = {"X-Correlation-Id": correlation}

    def payment_requested():  # the saga's first step (payment never answers: the order stays PENDING)
        body = _ok(deployment.http("GET", f"/audit/{correlation}"))
        assert any(e["eventType"] == "PAYMENT_REQUESTED" for e in body["events"]), body["events"]

    eventually(payment_requested)
    assert (
        deployment.http(
            "POST", f"/orders/{order['orderId']}/cancel", {"reason": "changed my mind"}, headers=headers
        ).status
        == 200
    )

    def recorded():  # the customer's two events, and the saga's step between them
        body = _ok(deployment.http("GET", f"/audit/{correlation}"))
        order_events = [e["eventType"] for e in body["events"] if e["aggregateId"] == order["orderId"]]
        assert order_events[:2] == ["ORDER_CREATED", "ORDER_CANCELLED"], order_events
        return body

    chain = eventually(recorded)
    # the saga's steps belong to the same conversation, each caused by the one before
    by_id = {e["eventId"]: e for e in chain["events"]}
    payment = next(e for e in chain["events"] if e["eventType"] == "PAYMENT_REQUESTED")
    assert by_id[payment["causationId"]]["eventType"] == "ORDER_CREATED"
    assert any(edge["to"] == payment["eventId"] for edge in chain["causedBy"])

    traced = deployment.tool("ops.trace", correlation)
    assert traced.returncode == 0, traced.stderr
    assert f"event(s) with correlation id {correlation}" in traced.stdout
    assert "sequenceDiagram" in traced.stdout and "ORDER_CANCELLED" in traced.stdout
    assert "caused by ORDER_CREATED" in traced.stdout
    # and the X-Ray trace of its first event: the POST's invocation, the outbox's hand-off, the saga under it
    assert "X-Ray trace 1-" in traced.stdout and "Publisher ORDER_CREATED" in traced.stdout, traced.stdout
    assert "\n    Publisher ORDER_CREATED" in traced.stdout and "\n      OrderSaga " in traced.stdout, traced.stdout


def _ok(response):
    assert response.status == 200, response.body
    return response.body


def _missing():
    raise AssertionError("not there yet")


def _status(item: dict | None, status: str) -> dict:
    """The email record once it has reached this status (it is claimed, SENDING, before SES is
    called, and marked SENT after)."""
    assert item and item["status"]["S"] == status, item
    return item


def _at_least(values: list, count: int) -> list:
    assert len(values) >= count, values
    return values


# ---- the staff routes' IAM authorization: the signature is checked, not only its presence ----------


def _signed_call(
    deployment,
    method: str,
    path: str,
    *,
    secret: str | None = None,
    key_id: str | None = None,
    body: bytes | None = None,
    sent_body: bytes | None = None,
) -> tuple[int, str]:
    """A request signed with these credentials (the deployment's own by default), whose body may
    be changed after signing; its status and error type."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from localcloud.api import session_for

    own = session_for(deployment.env or None).get_credentials()
    url = deployment.outputs.api_url + path
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(
        Credentials(key_id or own.access_key, secret or own.secret_key, own.token),
        "execute-api",
        deployment.env.get("AWS_REGION") or boto3.Session().region_name,
    ).add_auth(request)
    sent = urllib.request.Request(
        url, data=sent_body if sent_body is not None else body, method=method, headers=dict(request.headers)
    )
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("x-amzn-ErrorType", "")


def test_a_request_signed_with_the_wrong_secret_or_tampered_after_signing_is_refused_403(deployment):
    stock = json.dumps({"quantity": 1})
    assert _signed_call(deployment, "GET", "/inventory/no-such-sku")[0] == 404  # signed right: it reaches the API
    assert _signed_call(deployment, "GET", "/inventory/no-such-sku", secret="not-the-secret") == (
        403,
        "InvalidSignatureException",
    )
    assert _signed_call(deployment, "GET", "/inventory/no-such-sku", key_id="AKIANOTAKEYOFOURS")[0] == 403
    status, error = _signed_call(
        deployment, "PUT", "/inventory/SKU-SIG", body=stock.encode(), sent_body=stock.replace("1", "9").encode()
    )
    assert (status, error) == (403, "InvalidSignatureException")  # the quantity changed after signing


def test_one_order_is_one_trace_from_its_post_through_the_outbox_to_every_consumer(deployment):
    """Lambda's active tracing alone (docs/DECISIONS.md, "Tracing"): the POST starts the trace,
    each event is stored with it, the outbox hands each on under a segment of its own, and every
    consumer's invocation continues it, read back with `aws xray batch-get-traces`."""
    from infra.consumers import consumers_of

    sku = deployment.product(5, "7.50")
    placed = deployment.http("POST", "/orders", {"items": [{"productId": sku, "quantity": 1}]})
    assert placed.status == 201, placed.body
    order_id = placed.body["orderId"]

    def completed():
        assert _ok(deployment.http("GET", f"/orders/{order_id}"))["status"] == "COMPLETED"

    eventually(completed, timeout=60)
    items = deployment.client("dynamodb").query(
        TableName=deployment.outputs["EventStoreTableName"],
        KeyConditionExpression="aggregateId = :id",
        ExpressionAttributeValues={":id": {"S": order_id}},
        ConsistentRead=True,
    )["Items"]
    root = dict(part.split("=", 1) for part in items[0]["traceHeader"]["S"].split(";"))["Root"]
    functions = {name: construct for construct, name in deployment.outputs.function_names().items()}
    expected = {"OrdersApi", "Publisher"} | {
        consumer for item in items for consumer in consumers_of(item["eventType"]["S"])
    }

    def traced() -> list[dict]:
        [trace] = deployment.aws("xray", "batch-get-traces", "--trace-ids", root)["Traces"]
        segments = [json.loads(segment["Document"]) for segment in trace["Segments"]]
        named = {functions.get(s["name"], s["name"]) for s in segments}
        assert expected <= named, sorted(expected - named)
        return segments

    segments = eventually(traced, timeout=60)
    by_id = {segment["id"]: segment for segment in segments}
    # one tree: the API's invocation is its only root, and every other segment continues one of it
    [started] = [segment for segment in segments if "parent_id" not in segment]
    assert functions[started["name"]] == "OrdersApi"
    assert all(segment["parent_id"] in by_id for segment in segments if segment is not started)
    # each consumer's invocation continues the outbox's hand-off of its event, and each hand-off the
    # invocation that stored the event
    for segment in segments:
        parent = by_id.get(segment.get("parent_id"), {})
        if segment["name"] == "Publisher":
            assert parent.get("origin") == "AWS::Lambda::Function", segment
        elif segment is not started:
            assert parent["name"] == "Publisher", segment
    assert not any(segment.get("fault") for segment in segments)
