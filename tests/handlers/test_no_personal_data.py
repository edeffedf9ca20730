"""No personal data in logs, dead-letter reasons or metrics, through the functions themselves
(issue 30): each is fed an address, and the address is in none of the lines it logs, none of
the errors it raises (Lambda's error message: a consumer's dead-letter reason) and none of the
messages it parks or metrics it publishes. tests/unit/test_no_personal_data.py has the doors
one by one."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import boto3
import pytest

from catalog import EventType, new_event
from catalog.payloads import UserRegistered
from tests.support import aws, orders

ADDRESS = "ada@example.com"


@pytest.fixture
def logged(monkeypatch, caplog) -> Iterator[Callable[[], str]]:
    """Whatever the functions log, DEBUG included: their logger's lines (the function's stdout)
    and any library's (the tracer logs an exception it records in the trace)."""
    from common.observability import logger

    written = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", written)
    level = logger.log_level
    logger.setLevel("DEBUG")
    caplog.set_level("DEBUG")
    yield lambda: written.getvalue() + caplog.text
    logger.setLevel(level)


def registered(user_id: str = "cust-1"):
    return new_event(
        EventType.USER_REGISTERED,
        aggregate_id=f"user:{user_id}",
        payload=UserRegistered(userId=user_id, email=ADDRESS, name="Ada"),
        version=1,
        user_id=user_id,
        correlation_id="corr-1",
    )


def bus_event_of_registration() -> dict:
    return orders.bus_event(registered())


def consumer():
    from common.consumer import EventConsumer

    return EventConsumer(lambda envelope: pytest.fail("the work ran on a refused event")).handler


@pytest.mark.parametrize(
    "spoil",
    [
        lambda e: e["detail"]["payload"].update(email=f"Ada <{ADDRESS}>"),  # not an address
        lambda e: e["detail"]["payload"].update(phone=ADDRESS),  # a field it does not have
        lambda e: e["detail"].update(eventId=ADDRESS),  # an id that is not one
        lambda e: e["detail"].update(eventType=ADDRESS),  # a type that is not one
        lambda e: e.update({"detail-type": ADDRESS}),  # the entry's routing contradicts the event
        lambda e: e.update({"detail-type": ADDRESS, "detail": {"eventId": ADDRESS}}),  # too broken to parse
    ],
    ids=["bad address", "unknown field", "bad event id", "bad event type", "misrouted", "broken"],
)
def test_a_consumer_refuses_a_malformed_event_without_logging_or_raising_its_values(lambda_context, logged, spoil):
    event = bus_event_of_registration()
    spoil(event)
    with pytest.raises(ValueError) as refusal:
        consumer()(event, lambda_context)
    assert ADDRESS not in str(refusal.value)  # Lambda's error message, the dead-letter reason
    assert ADDRESS not in logged()
    [line] = [json.loads(entry) for entry in logged().splitlines() if '"event failed"' in entry]
    assert line["exception_name"] in ("ValidationError", "UnknownEventType", "Misrouted", "JSONDecodeError")


def test_the_email_consumer_logs_no_address_at_debug_first_time_or_again(tables, lambda_context, logged):
    from eventstore.store import EventStore
    from notifications.handler import handler

    EventStore(aws.EVENT_STORE).append([registration := registered()])
    EventStore(aws.EVENT_STORE).append([created := orders.created(customer_id="cust-1")])
    for event in (registration, created):
        for _ in range(2):  # a redelivery answers from the email log: the same outcome, logged again
            assert handler(orders.bus_event(event), lambda_context)["outcome"] == "sent"
    lines = logged().splitlines()
    assert any('"event result"' in line for line in lines)  # the DEBUG line was written
    assert not [line for line in lines if ADDRESS in line]


def test_the_publisher_parks_a_record_it_refuses_without_its_values(tables, lambda_context, logged, monkeypatch):
    from eventstore.store import EventStore
    from publisher.handler import Settings, handler

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="publisher-dead-letters")["QueueUrl"]
    monkeypatch.setenv(Settings.variable("dead_letter_queue_url"), queue_url)
    EventStore(aws.EVENT_STORE).append([registered()])
    [record] = aws.stream_records()
    image = record["dynamodb"]["NewImage"]
    detail = json.loads(image["detail"]["S"])
    image["detail"]["S"] = json.dumps(detail | {"eventType": ADDRESS})  # not the event its item says
    handler({"Records": [record]}, lambda_context)
    [parked] = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert ADDRESS not in json.dumps(parked)
    assert "eventType" in json.loads(parked["Body"])["reason"]
    assert ADDRESS not in logged()


def test_analytics_publishes_no_address_in_its_metrics_or_logs(tables, lambda_context, logged, capsys):
    from analytics.consumer import handler
    from analytics.fold import handler as fold
    from eventstore.store import EventStore

    registration = registered()
    EventStore(aws.EVENT_STORE).append([registration])  # analytics counts the store's own events
    handler(orders.bus_event(registration), lambda_context)
    capsys.readouterr()
    assert fold({"Records": aws.stream_records(aws.ANALYTICS_EVENTS)}, lambda_context)["metrics"] == ["UsersRegistered"]
    published = capsys.readouterr().out  # the EMF record
    assert "UsersRegistered" in published and ADDRESS not in published
    assert ADDRESS not in logged()


def test_a_customers_profile_and_order_reach_no_trace(tables, bus_to_queue, lambda_context, monkeypatch):
    """A trace is kept where no erasure reaches (docs/SECURITY.md). No function runs a tracing
    SDK (a handler's answer, a customer's profile or order, was kept out of its subsegments by a
    setting); what the platform itself records is the outbox's hand-off of each event in a
    sampled trace: what goes there is the event's type, never its payload."""
    from orders.api import handler as orders_api
    from publisher.outbox import OutboxPublisher
    from tests.support.api import call, claims
    from users.api import handler as users_api

    root = "1-67890abc-0123456789abcdef01234567"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1")
    ada = claims("sub-ada", email=ADDRESS)
    assert call(users_api, lambda_context, "POST", "/users", body={"name": "Ada Lovelace"}, customer=ada).status == 201
    aws.price({"SKU-1": "19.99"})
    line = {"productId": "SKU-1", "quantity": 1, "price": "19.99"}
    assert call(orders_api, lambda_context, "POST", "/orders", body={"items": [line]}, customer=ada).status == 201
    assert OutboxPublisher(aws.BUS).publish(aws.stream_records()).failed == []
    [trace] = boto3.client("xray").batch_get_traces(TraceIds=[root])["Traces"]
    recorded = [json.loads(segment["Document"]) for segment in trace["Segments"]]
    assert {"ORDER_CREATED", "USER_REGISTERED"} <= {s["annotations"]["eventType"] for s in recorded}
    traced = json.dumps(recorded)
    assert ADDRESS not in traced and "Ada Lovelace" not in traced and "SKU-1" not in traced, traced[:400]


def test_a_send_ses_refuses_logs_and_parks_no_address(tables, lambda_context, logged, monkeypatch):
    """SES's refusals name the recipient ("...failed the check in region US-EAST-1: <address>"):
    the error the Email consumer raises (Lambda's error message, its dead-letter reason) and the
    lines it logs keep SES's code, never its text."""
    from botocore.exceptions import ClientError

    from eventstore.store import EventStore
    from notifications import handler as email

    EventStore(aws.EVENT_STORE).append([registration := registered()])

    def refuse(**request):
        recipients = ", ".join(request["Destination"]["ToAddresses"])
        message = (
            "Email address is not verified. The following identities failed the check in region US-EAST-1: "
            f"{recipients}"
        )
        raise ClientError({"Error": {"Code": "MessageRejected", "Message": message}}, "SendEmail")

    monkeypatch.setattr(email.mailer()._ses, "send_email", refuse)
    with pytest.raises(Exception) as failed:
        email.handler(orders.bus_event(registration), lambda_context)
    assert "MessageRejected" in str(failed.value)  # what went wrong is still said
    assert ADDRESS not in str(failed.value) and ADDRESS not in logged()
