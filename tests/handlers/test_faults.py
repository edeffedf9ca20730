"""Faults that AWS itself produces, injected through the SDK by the fault-injection layer
(fault_injection/python/platform_faults/sdk.py, installed as its wrapper installs it): a
throttled call is answered with the service's own throttling error and retried by the SDK;
a partial PutEvents fails some entries and delivers the others; a timeout leaves the work
done and the invocation unanswered. Each is checked against moto, with the SDK's own retries."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.botocore_stubber import BotocoreStubber

from catalog.examples import put_events_entries
from localcloud.run_handler import Context
from platform_faults import switches as faults
from platform_faults.wrapper import wrap
from tests.handlers.conftest import faults_on_the_sdk
from tests.support import aws, orders
from tests.support.api import call

MOTO_ANSWERS = BotocoreStubber.__call__  # before the handler tests' fixture patches it

DYNAMODB_THROTTLES = {"ProvisionedThroughputExceededException", "ThrottlingException"}


@pytest.fixture
def no_backoff(monkeypatch):
    """The SDK's retries without their jittered sleeps (up to 3 s a call): the attempts are the same."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)


@pytest.fixture
def throttled(tables, monkeypatch, no_backoff):
    monkeypatch.setenv("FAULT_INJECTION_THROTTLE", "1")
    monkeypatch.setenv("FAULT_INJECTION_SEED", "11")
    faults_on_the_sdk(monkeypatch)


def injected(capsys, message: str) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]


def put(client, n: int) -> None:
    client.put_item(TableName=aws.ORDERS, Item={"orderId": {"S": f"order-{n}"}, "status": {"S": "PLACED"}})


def stored(n: int) -> bool:
    """Read as the test, not as the function: through a session the faults are not wired into."""
    dynamodb = boto3.session.Session().client("dynamodb")
    return "Item" in dynamodb.get_item(TableName=aws.ORDERS, Key={"orderId": {"S": f"order-{n}"}})


# ---- throttling --------------------------------------------------------------------------------


def test_a_throttle_shorter_than_the_sdks_attempts_is_retried_away_and_a_longer_one_is_the_services_error(
    tables, throttled, capsys
):
    from common.clients import client

    dynamodb = client("dynamodb")
    outcomes = {"retried": 0, "raised": 0}
    codes = set()
    for n in range(12):
        try:
            put(dynamodb, n)
            error = None
        except ClientError as raised:
            error = raised
        attempts = injected(capsys, "fault injected: AWS call throttled")
        codes |= {a["code"] for a in attempts}
        if error is None:
            assert 1 <= len(attempts) <= 2 and stored(n)  # the SDK's retry got through
            outcomes["retried"] += 1
        else:
            assert error.response["Error"]["Code"] in DYNAMODB_THROTTLES
            assert error.response["ResponseMetadata"]["MaxAttemptsReached"]
            assert [a["attempt"] for a in attempts] == [1, 2, 3] and attempts[-1]["exhausted"]
            assert not stored(n)  # no attempt reached the table
            outcomes["raised"] += 1
    assert outcomes["retried"] >= 1 and outcomes["raised"] >= 1, outcomes
    assert codes == DYNAMODB_THROTTLES


@pytest.mark.parametrize(
    "service, call_it, code, status",
    [
        ("lambda", lambda c: c.list_functions(), "TooManyRequestsException", 429),
        ("events", lambda c: c.list_event_buses(), "ThrottlingException", 400),
        ("sqs", lambda c: c.list_queues(), "ThrottlingException", 400),
        ("ses", lambda c: c.list_identities(), "Throttling", 400),
    ],
)
def test_each_service_throttles_with_its_own_error(tables, throttled, service, call_it, code, status):
    from common.clients import client

    errors = []
    for _ in range(12):
        try:
            call_it(client(service))
        except ClientError as error:
            errors.append(error)
    assert errors, f"{service}: no call throttled past its retries"
    assert {(e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]) for e in errors} == {
        (code, status)
    }


def test_with_the_switch_off_no_call_is_throttled(tables, no_backoff, capsys):
    from common.clients import client

    for n in range(20):
        put(client("dynamodb"), n)
    assert all(stored(n) for n in range(20))
    assert injected(capsys, "fault injected: AWS call throttled") == []


def test_moto_would_write_a_throttled_call_that_aws_never_received(tables, throttled, monkeypatch, capsys):
    """Why tests/support/aws.py keeps moto from answering requests a fault answered."""
    from common.clients import client

    monkeypatch.setattr(BotocoreStubber, "__call__", MOTO_ANSWERS)
    for n in range(12):
        try:
            put(client("dynamodb"), n)
        except ClientError:
            assert stored(n)  # the SDK saw three throttles; moto wrote the item all the same
            return
    pytest.fail("no call throttled past its retries")


def test_an_api_throttled_past_the_sdks_retries_answers_503_and_the_same_key_later_places_one_order(
    tables, throttled, lambda_context, monkeypatch
):
    from orders.api import handler

    aws.price({"SKU-1": "9.99"})
    body = {"items": [{"productId": "SKU-1", "quantity": 1, "price": "9.99"}]}
    answers = []
    for n in range(12):
        answer = call(handler, lambda_context, "POST", "/orders", body=body, headers={"Idempotency-Key": f"key-000{n}"})
        answers.append(answer.status)
        if answer.status == 503:
            break
    assert answers[-1] == 503, answers
    assert answer.headers["Retry-After"] == "1"
    assert answer.body["message"].startswith("the platform is busy (")
    assert set(answers) <= {201, 503}  # never a 500 or a 502

    monkeypatch.delenv("FAULT_INJECTION_THROTTLE")
    aws.new_container()  # a new container: its clients without the switch
    again = call(
        handler,
        Context("orders-api", timeout_ms=30_000),
        "POST",
        "/orders",
        body=body,
        headers={"Idempotency-Key": f"key-000{n}"},
    )
    assert again.status == 201
    created = [
        e
        for e in (
            json.loads(i["detail"]["S"]) for i in boto3.client("dynamodb").scan(TableName=aws.EVENT_STORE)["Items"]
        )
        if e["eventType"] == "ORDER_CREATED"
    ]
    assert sum(1 for e in created if e["aggregateId"] == again.body["orderId"]) == 1


def test_an_aws_error_that_is_not_a_throttle_is_not_dressed_as_one(tables, lambda_context, monkeypatch):
    from orders.api import Settings, handler

    aws.price({"SKU-1": "9.99"})
    monkeypatch.setenv(Settings.variable("event_store_table_name"), "no-such-table")
    body = {"items": [{"productId": "SKU-1", "quantity": 1, "price": "9.99"}]}
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        call(handler, lambda_context, "POST", "/orders", body=body)


# ---- partial PutEvents ----------------------------------------------------------------------------


def entries(count: int) -> list[dict]:
    return [put_events_entries(orders.created(order_id=f"order-{n}"), "test-bus")[0] for n in range(count)]


def test_a_partial_put_fails_some_entries_at_their_places_and_delivers_the_others(bus_to_queue, monkeypatch, capsys):
    from common.clients import client

    monkeypatch.setenv("FAULT_INJECTION_PARTIAL_PUT", "0.5")
    monkeypatch.setenv("FAULT_INJECTION_SEED", "3")
    faults_on_the_sdk(monkeypatch)
    sent = entries(10)
    response = client("events").put_events(Entries=sent)

    failed = [n for n, result in enumerate(response["Entries"]) if "ErrorCode" in result]
    assert len(response["Entries"]) == 10 and response["FailedEntryCount"] == len(failed)
    assert 0 < len(failed) < 10
    assert {response["Entries"][n]["ErrorCode"] for n in failed} <= {"InternalFailure", "ThrottlingException"}
    delivered = {m["detail"]["eventId"] for m in bus_to_queue()}
    assert delivered == {json.loads(e["Detail"])["eventId"] for n, e in enumerate(sent) if n not in failed}
    [line] = injected(capsys, "fault injected: PutEvents entries failed")
    assert (line["failed"], line["entries"]) == (len(failed), 10)


def test_a_put_whose_every_entry_fails_is_answered_without_being_sent(bus_to_queue, monkeypatch):
    from common.clients import client

    monkeypatch.setenv("FAULT_INJECTION_PARTIAL_PUT", "1")
    faults_on_the_sdk(monkeypatch)
    response = client("events").put_events(Entries=entries(2))
    assert response["FailedEntryCount"] == 2 and all("ErrorCode" in e for e in response["Entries"])
    assert bus_to_queue() == []


def test_the_publisher_resends_only_the_failed_entries_and_reports_what_still_failed(
    store, bus_to_queue, monkeypatch, capsys
):
    from publisher.outbox import OutboxPublisher
    from tests.handlers.test_publisher import insert_records

    monkeypatch.setenv("FAULT_INJECTION_PARTIAL_PUT", "0.5")
    monkeypatch.setenv("FAULT_INJECTION_SEED", "5")
    faults_on_the_sdk(monkeypatch)
    records = insert_records(store, 10)
    report = OutboxPublisher("test-bus", sleep=lambda _: None).publish(records)

    refused_first = sum(line["failed"] for line in injected(capsys, "fault injected: PutEvents entries failed"))
    delivered = [m["detail"]["eventId"] for m in bus_to_queue()]
    assert len(delivered) == len(set(delivered)) == report.published  # each delivered once
    assert report.published + len(report.failed) == 10
    assert refused_first > len(report.failed)  # some entries failed, were resent and went out
    still_failed = {p.sequence_number for p in report.failed}
    assert {
        r["dynamodb"]["NewImage"]["eventId"]["S"]
        for r in records
        if r["dynamodb"]["SequenceNumber"] not in still_failed
    } == set(delivered)
    assert all(p.error.startswith(("InternalFailure: ", "ThrottlingException: ")) for p in report.failed)


# ---- a timeout part-way ---------------------------------------------------------------------------


def test_with_the_timeout_switch_every_fault_is_a_hang_after_the_work(monkeypatch):
    monkeypatch.setenv("FAULT_INJECTION_RATE", "1")
    monkeypatch.setenv("FAULT_INJECTION_TIMEOUT", "1")
    assert {faults.random_failure_point(f"k{n}") for n in range(20)} == {faults.AFTER}
    monkeypatch.delenv("FAULT_INJECTION_TIMEOUT")
    assert {faults.random_failure_point(f"k{n}") for n in range(20)} == {faults.BEFORE, faults.AFTER}


def test_a_consumer_timed_out_part_way_has_done_its_work_and_answers_nothing(tables, monkeypatch, capsys):
    from audit.consumer import handler

    monkeypatch.setenv("FAULT_INJECTION_RATE", "1")
    monkeypatch.setenv("FAULT_INJECTION_TIMEOUT", "1")
    event = orders.bus_event(orders.created(order_id="order-t"))
    started = time.monotonic()
    with pytest.raises(faults.FaultInjected, match="timed out part-way"):
        wrap(handler)(event, Context("audit", timeout_ms=300))
    assert time.monotonic() - started >= 0.3  # it waited out the function's time
    assert aws.item_count(aws.AUDIT) == 1  # the work was done before it hung
    [line] = injected(capsys, "fault injected: hanging until the function's timeout")
    assert line["secondsLeft"] <= 0.3
