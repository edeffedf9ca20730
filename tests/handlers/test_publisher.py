"""The outbox publisher: stream records onto the bus, 10 per call, failures resent or reported."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from publisher.outbox import OutboxPublisher
from tests.support import aws, orders


def insert_records(store, count: int) -> list[dict]:
    for n in range(count):
        store.append([orders.created(order_id=f"order-{n}")])
    return aws.stream_records()


def test_each_stored_event_is_put_on_the_bus_as_its_envelope(store, bus_to_queue, lambda_context):
    from publisher.handler import handler

    event = orders.created()
    store.append([event])
    result = handler({"Records": aws.stream_records()}, lambda_context)

    assert result == {"batchItemFailures": []}
    [delivered] = bus_to_queue()
    assert delivered["source"] == "orders.service"
    assert delivered["detail-type"] == "ORDER_CREATED"
    assert delivered["detail"] == event.to_detail()


def test_each_event_goes_on_in_the_trace_that_stored_it_under_a_segment_of_the_outbox(store, monkeypatch):
    root = "1-67890abc-0123456789abcdef01234567"
    stored = {
        "traced": f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1",
        "failing": f"Root={root};Parent=0123456789abcdef;Sampled=1",
        "unsampled": "Root=1-67890abc-fedcba9876543210fedcba98;Parent=1111111111111111;Sampled=0",
    }
    for order, header in stored.items():
        monkeypatch.setenv("_X_AMZN_TRACE_ID", header)  # what Lambda sets for each invocation
        store.append([orders.created(order_id=order)])
    monkeypatch.delenv("_X_AMZN_TRACE_ID")  # and outside any invocation, none
    store.append([orders.created(order_id="untraced")])
    client, sent = boto3.client("events"), []
    client.meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **_: sent.extend(params["Entries"])
    )
    refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
    with Stubber(client) as stub:  # in the order stored; the failing order's entry fails every attempt
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, refused, {"EventId": "b"}, {"EventId": "c"}]},
        )
        for _ in range(2):
            stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [refused]})
        report = OutboxPublisher(aws.BUS, client=client, sleep=lambda _: None).publish(aws.stream_records())
    assert [json.loads(entry.entry["Detail"])["aggregateId"] for entry in report.failed] == ["failing"]
    headers = {json.loads(e["Detail"])["aggregateId"]: e.get("TraceHeader") for e in sent}
    assert headers["untraced"] is None and headers["unsampled"] == stored["unsampled"]  # handed on as they are
    segments = {
        json.loads(s["Document"])["parent_id"]: json.loads(s["Document"])
        for trace in boto3.client("xray").batch_get_traces(TraceIds=[root])["Traces"]
        for s in trace["Segments"]
    }
    assert set(segments) == {"53995c3f42cd8ad8", "0123456789abcdef"}  # one a sampled event, under its writer's
    handed_on = segments["53995c3f42cd8ad8"]
    assert handed_on["name"] == "Publisher" and handed_on["annotations"] == {"eventType": "ORDER_CREATED"}
    assert headers["traced"] == f"Root={root};Parent={handed_on['id']};Sampled=1"  # its consumers' parent
    assert handed_on["start_time"] <= handed_on["end_time"] and "fault" not in handed_on
    assert segments["0123456789abcdef"]["fault"] is True  # not on the bus: the trace says so


def test_entries_go_out_ten_per_call(store):
    records = insert_records(store, 25)
    client = boto3.client("events")
    with Stubber(client) as stub:
        for size in (10, 10, 5):
            stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}] * size})
        report = OutboxPublisher(aws.BUS, client=client).publish(records)
        stub.assert_no_pending_responses()
    assert report.published == 25
    assert report.failed == []


def test_only_failed_entries_are_resent(store):
    records = insert_records(store, 4)
    entries = [OutboxPublisher(aws.BUS)._entry_for(r).entry for r in records]
    client = boto3.client("events")
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 2,
                "Entries": [
                    {"EventId": "a"},
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                    {"EventId": "c"},
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"},
                ],
            },
            {"Entries": entries},
        )
        # the second call must carry exactly the two entries that failed, nothing else
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "b"}, {"EventId": "d"}]},
            {"Entries": [entries[1], entries[3]]},
        )
        report = OutboxPublisher(aws.BUS, client=client, sleep=lambda s: None).publish(records)
        stub.assert_no_pending_responses()
    assert report.published == 4
    assert report.batch_item_failures == []


def test_entries_that_keep_failing_are_reported_as_batch_item_failures(store, lambda_context):
    records = insert_records(store, 3)
    client = boto3.client("events")
    failing = {
        "FailedEntryCount": 1,
        "Entries": [{"EventId": "a"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "no"}, {"EventId": "c"}],
    }
    with Stubber(client) as stub:
        stub.add_response("put_events", failing)
        for _ in range(2):
            stub.add_response(
                "put_events",
                {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "no"}]},
            )
        report = OutboxPublisher(aws.BUS, client=client, sleep=lambda s: None).publish(records)
    assert report.published == 2
    assert report.batch_item_failures == [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]
    assert "InternalFailure" in report.failed[0].error


def test_a_whole_call_failing_is_retried_then_reported(store):
    records = insert_records(store, 2)
    client = boto3.client("events")
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
        report = OutboxPublisher(aws.BUS, client=client, sleep=lambda s: None).publish(records)
        stub.assert_no_pending_responses()
    assert len(report.batch_item_failures) == 2
    assert "ThrottlingException" in report.failed[0].error


@pytest.fixture
def dead_letters(tables, monkeypatch):
    """The publisher's dead-letter queue, read back as the messages parked in it."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="publisher-dead-letters")["QueueUrl"]
    from publisher.handler import Settings

    monkeypatch.setenv(Settings.variable("dead_letter_queue_url"), queue_url)

    def parked() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return parked


def test_an_entry_over_1_mb_is_parked_with_the_reason_and_the_rest_published(
    store, bus_to_queue, dead_letters, lambda_context
):
    from publisher.handler import handler

    records = insert_records(store, 2)
    records[0]["dynamodb"]["NewImage"]["detail"]["S"] = json.dumps({"padding": "x" * 1_100_000})
    assert handler({"Records": records}, lambda_context) == {"batchItemFailures": []}  # nothing to retry
    [parked] = dead_letters()
    assert "at most 1048576" in parked["reason"]
    assert parked["refusedRecord"]["sequenceNumber"] == records[0]["dynamodb"]["SequenceNumber"]
    assert parked["refusedRecord"]["keys"] == records[0]["dynamodb"]["Keys"]
    assert len(bus_to_queue()) == 1


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda image: image.pop("detail"), "stream record lacks string attribute 'detail'"),
        (lambda image: image.update(detail={"N": "1"}), "stream record lacks string attribute 'S'"),
        (lambda image: image["detail"].update(S="{not json"), "detail is not JSON"),
        (lambda image: image["detail"].update(S="[1, 2]"), "detail is not a JSON object"),
        (
            lambda image: image["eventType"].update(S="ORDER_SHIPPED"),
            "detail eventType does not match the item's eventType",
        ),
        (lambda image: image["eventId"].update(S="someone-else"), "detail eventId "),
    ],
)
def test_a_record_that_is_not_an_event_is_parked_with_the_reason_never_published(
    store, bus_to_queue, dead_letters, lambda_context, damage, reason
):
    from publisher.handler import handler

    records = insert_records(store, 3)
    damage(records[1]["dynamodb"]["NewImage"])
    assert handler({"Records": records}, lambda_context) == {"batchItemFailures": []}
    [parked] = dead_letters()
    assert parked["reason"].startswith(reason)
    assert len(bus_to_queue()) == 2  # the records either side of it went out


def test_with_the_duplicates_switch_every_event_is_published_again(store, bus_to_queue, lambda_context, monkeypatch):
    from publisher.handler import handler
    from tests.handlers.conftest import faults_on_the_sdk

    monkeypatch.setenv("FAULT_INJECTION_DUPLICATES", "2")
    faults_on_the_sdk(monkeypatch)
    handler({"Records": insert_records(store, 2)}, lambda_context)
    ids = [m["detail"]["eventId"] for m in bus_to_queue()]
    assert len(ids) == 6 and len(set(ids)) == 2


def test_with_the_reorder_switch_a_batch_goes_out_newest_first(store, bus_to_queue, lambda_context, monkeypatch):
    from platform_faults.wrapper import wrap
    from publisher.handler import handler

    monkeypatch.setenv("FAULT_INJECTION_REORDER", "1")
    store.append([orders.created(order_id="o-1")])
    store.append([orders.updated(order_id="o-1", version=2)])
    wrap(handler)({"Records": aws.stream_records()}, lambda_context)
    assert [m["detail-type"] for m in bus_to_queue()] == ["ORDER_UPDATED", "ORDER_CREATED"]


def test_a_transient_fault_after_publishing_fails_the_batch_so_it_is_published_again(
    store, bus_to_queue, lambda_context, monkeypatch
):
    from platform_faults.switches import FaultInjected
    from platform_faults.wrapper import wrap
    from publisher.handler import handler

    records = insert_records(store, 1)
    monkeypatch.setenv("FAULT_INJECTION_RATE", "1")
    monkeypatch.setattr("random.choice", lambda points: points[1])  # after the work
    with pytest.raises(FaultInjected, match="after the work"):
        wrap(handler)({"Records": records}, lambda_context)
    monkeypatch.delenv("FAULT_INJECTION_RATE")
    handler({"Records": records}, lambda_context)
    assert [m["detail"]["eventId"] for m in bus_to_queue()] == [records[0]["dynamodb"]["NewImage"]["eventId"]["S"]] * 2


def test_removals_and_modifications_are_not_events(store, bus_to_queue):
    records = insert_records(store, 1)
    records[0]["eventName"] = "REMOVE"
    report = OutboxPublisher(aws.BUS).publish(records)
    assert (report.published, report.ignored, report.failed, report.refused) == (0, 1, [], [])


# ---- the reasons given, the waits between attempts, the lines logged --------------------------


def test_each_failure_keeps_what_eventbridge_said(store):
    records = insert_records(store, 2)
    client = boto3.client("events")
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 2,
                "Entries": [
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                    {"ErrorCode": "InternalFailure"},
                ],
            },
        )
        report = OutboxPublisher(aws.BUS, client=client, max_attempts=1).publish(records)
    assert [f.error for f in report.failed] == ["InternalFailure: try again", "InternalFailure: "]
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_events",
            service_error_code="ThrottlingException",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        report = OutboxPublisher(aws.BUS, client=client, max_attempts=1).publish(records)
    assert {f.error for f in report.failed} == {"PutEvents failed: ThrottlingException: Rate exceeded"}


def test_attempts_wait_longer_each_time(store):
    records = insert_records(store, 1)
    client = boto3.client("events")
    waits: list[float] = []
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
        OutboxPublisher(aws.BUS, client=client, max_attempts=4, sleep=waits.append).publish(records)
    assert waits == pytest.approx([0.1, 0.2, 0.4])  # none before the first attempt, then doubling from 100 ms


def test_every_removal_or_modification_is_skipped_and_the_inserts_after_it_go_out(store, bus_to_queue):
    records = insert_records(store, 3)
    records[0]["eventName"], records[1]["eventName"] = "REMOVE", "MODIFY"
    report = OutboxPublisher(aws.BUS).publish(records)
    assert (report.published, report.ignored) == (1, 2)
    assert len(bus_to_queue()) == 1


def test_an_entry_exactly_at_the_limit_is_published(store):
    """1 MB, EventBridge's limit since 2026-01-29 (a bus with no target: moto delivers to its
    targets within PutEvents, and an SQS target refuses an event of over 1 MiB, which the
    envelope around a 1 MB entry is; on AWS the put succeeds and that delivery fails on its own)."""
    import boto3

    from common.limits import MAX_ENTRY_BYTES, entry_size

    boto3.client("events").create_event_bus(Name=aws.BUS)

    [record] = insert_records(store, 1)
    image = record["dynamodb"]["NewImage"]
    detail = json.loads(image["detail"]["S"])

    def padded(n: int) -> str:
        return json.dumps({**detail, "padding": "x" * n})

    size = entry_size(image["source"]["S"], image["eventType"]["S"], padded(0))
    image["detail"]["S"] = padded(MAX_ENTRY_BYTES - size)
    assert entry_size(image["source"]["S"], image["eventType"]["S"], image["detail"]["S"]) == MAX_ENTRY_BYTES
    report = OutboxPublisher(aws.BUS).publish([record])
    assert (report.published, report.refused) == (1, [])


def _lines(monkeypatch):
    import io

    from common.observability import logger

    written = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", written)
    return lambda: [json.loads(line) for line in written.getvalue().splitlines()]


def test_an_event_not_published_is_one_error_line_with_its_reason(store, monkeypatch):
    lines = _lines(monkeypatch)
    [record] = insert_records(store, 1)
    client = boto3.client("events")
    with Stubber(client) as stub:
        stub.add_response(
            "put_events", {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "no"}]}
        )
        OutboxPublisher(aws.BUS, client=client, max_attempts=1).publish([record])
    [line] = [entry for entry in lines() if entry.get("message") == "event not published"]
    assert (line["level"], line["sequenceNumber"], line["reason"]) == (
        "ERROR",
        record["dynamodb"]["SequenceNumber"],
        "InternalFailure: no",
    )


def test_a_refused_record_is_parked_with_where_it_is_and_why(
    store, bus_to_queue, dead_letters, lambda_context, monkeypatch
):
    from publisher.handler import Settings, handler

    lines = _lines(monkeypatch)
    [record] = insert_records(store, 1)
    record["eventSourceARN"] = "arn:aws:dynamodb:us-east-1:123456789012:table/test-event-store/stream/x"
    record["dynamodb"]["NewImage"]["eventType"]["S"] = "ORDER_" + "X" * 300
    handler({"Records": [record]}, lambda_context)
    messages = boto3.client("sqs").receive_message(
        QueueUrl=Settings.current().dead_letter_queue_url, MessageAttributeNames=["All"]
    )["Messages"]
    [parked] = messages
    body = json.loads(parked["Body"])
    reason = body["reason"]
    assert reason == "detail eventType does not match the item's eventType"  # named, never quoted
    assert body["refusedRecord"] == {
        "eventSourceARN": record["eventSourceARN"],
        "sequenceNumber": record["dynamodb"]["SequenceNumber"],
        "keys": record["dynamodb"]["Keys"],
    }
    assert parked["MessageAttributes"]["reason"]["StringValue"] == reason[:256]
    [line] = [entry for entry in lines() if entry.get("message") == "stream record refused"]
    assert (line["level"], line["sequenceNumber"], line["reason"]) == (
        "ERROR",
        record["dynamodb"]["SequenceNumber"],
        reason,
    )


def test_a_record_without_an_item_image_is_refused_by_its_sequence_number(store):
    [record] = insert_records(store, 1)
    del record["dynamodb"]["NewImage"]
    report = OutboxPublisher(aws.BUS).publish([record])
    [refused] = report.refused
    assert (refused.sequence_number, refused.entry, refused.record) == (
        record["dynamodb"]["SequenceNumber"],
        {},
        record,
    )
    assert refused.error == "stream record lacks string attribute 'source': not an event-store item"


@pytest.mark.parametrize("attribute", ["eventId", "aggregateId"])
def test_an_item_missing_its_identity_is_refused(store, attribute):
    [record] = insert_records(store, 1)
    del record["dynamodb"]["NewImage"][attribute]
    [refused] = OutboxPublisher(aws.BUS).publish([record]).refused
    assert refused.error == f"the item has no {attribute}: not an event-store item"
    assert (refused.sequence_number, refused.record) == (record["dynamodb"]["SequenceNumber"], record)
    assert refused.entry["Detail"] == record["dynamodb"]["NewImage"]["detail"]["S"]


def test_a_seeded_fault_is_keyed_on_the_batchs_first_record_and_fails_the_types_it_holds(store):
    """The fault-injection wrapper's view of a stream batch: its first record (the same in a
    replay of the batch) and the event types its items hold."""
    from platform_faults.wrapper import about

    records = insert_records(store, 2)
    assert about({"Records": records}) == (records[0]["eventID"], ["ORDER_CREATED", "ORDER_CREATED"])
    assert about({"Records": records[1:]})[0] == records[1]["eventID"] and about({"Records": []}) == ("", [])


def test_a_trace_that_cannot_be_recorded_never_fails_the_batch(store, bus_to_queue, monkeypatch):
    from common import tracing

    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-67890abc-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1")
    store.append([orders.created(order_id="traced")])
    xray = boto3.client("xray")
    with Stubber(xray) as stub:
        stub.add_client_error("put_trace_segments", "ThrottledException", http_status_code=429)
        report = OutboxPublisher(aws.BUS, traces=tracing.Handoff("Publisher", lambda: xray)).publish(
            aws.stream_records()
        )
        stub.assert_no_pending_responses()  # it was tried
    assert report.published == 1 and report.failed == []
    assert [delivered["detail"]["aggregateId"] for delivered in bus_to_queue()] == ["traced"]


@pytest.mark.parametrize(
    "header",
    [
        "Root=1-67890abc-0123456789abcdef01234567\nX;Sampled=1",
        "Root=bogus;Sampled=1",
        "Sampled=1",
        "Root=1-67890abc-0123456789abcdef01234567;Parent=x y;Sampled=1",
    ],
)
def test_a_trace_header_that_is_not_x_rays_records_nothing_and_is_handed_on_as_it_is(store, monkeypatch, header):
    from common import tracing

    recorded: list[dict[str, Any]] = []

    def put_trace_segments(self: object, **kw: Any) -> dict[str, list[str]]:
        recorded.append(kw)
        return {"UnprocessedTraceSegments": []}

    handoff = tracing.Handoff("Publisher", lambda: type("X", (), {"put_trace_segments": put_trace_segments})())
    handed = handoff.hand_on("1", header, "ORDER_CREATED")
    handoff.close(set())
    if "Parent=x y" in header:  # a well-formed root with a parent that is not an id: the root's trace, no parent
        [call] = recorded
        [document] = [json.loads(d) for d in call["TraceSegmentDocuments"]]
        assert "parent_id" not in document and handed.startswith("Root=1-67890abc-0123456789abcdef01234567;Parent=")
    else:
        assert handed == header and recorded == []


def test_a_record_refused_before_the_bus_records_no_hand_off_in_its_trace(store, bus_to_queue, monkeypatch):
    root = "1-67890abc-0123456789abcdef01234567"
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1")
    records = insert_records(store, 2)
    records[1]["dynamodb"]["NewImage"]["detail"].update(S="{not json")
    report = OutboxPublisher(aws.BUS).publish(records)
    assert (report.published, len(report.refused)) == (1, 1)
    [trace] = boto3.client("xray").batch_get_traces(TraceIds=[root])["Traces"]
    assert len(trace["Segments"]) == 1  # the event that went on, only


@pytest.mark.parametrize(
    "event", [{"Records": ["x"]}, {"Records": [{"dynamodb": {"NewImage": {"deltas": {"M": None}}}}]}, "text", None]
)
def test_the_fault_wrapper_hands_any_event_to_the_function_as_it_came(event, monkeypatch):
    """With its switches off, or set, the wrapper never fails on an event's shape: the function's
    own handler answers it (a direct invoke can send anything)."""
    from platform_faults.wrapper import wrap

    seen = []

    def function(e: Any, _context: Any) -> str:
        seen.append(e)
        return "answered"

    for switches in ({}, {"FAULT_INJECTION_EVENT_TYPES": "ORDER_CREATED"}):
        for name, value in switches.items():
            monkeypatch.setenv(name, value)
        assert wrap(function)(event, None) == "answered"
    assert seen == [event, event]
