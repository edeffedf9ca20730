"""The redrive tool: each kind of dead letter goes back where it belongs, and a message is
deleted only once it has been re-sent."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from ops import redrive as tool
from ops.redrive import ON_FAILURE, RULE_TARGET, STREAM_BATCH, Redrive
from tests.support import aws, orders

OWNER = "Analytics"


@pytest.fixture
def queue(tables):
    sqs = boto3.client("sqs")
    return sqs.create_queue(QueueName="analytics-dead-letters")["QueueUrl"]


def outputs(queue_url: str) -> dict[str, str]:
    return {f"{OWNER}DeadLetterQueueUrl": queue_url, f"{OWNER}FunctionName": "analytics-fn", "EventBusName": "test-bus"}


def park(queue_url: str, body: dict, **attributes: str) -> None:
    boto3.client("sqs").send_message(
        QueueUrl=queue_url, MessageBody=json.dumps(body),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )


def on_failure_record(event) -> dict:
    return {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": orders.bus_event(event),
        "responsePayload": {"errorMessage": "fault injected for ORDER_CREATED"},
    }


def test_the_three_kinds_of_dead_letter_are_told_apart(queue):
    event = orders.created()
    park(queue, on_failure_record(event))
    park(queue, orders.bus_event(event), ERROR_CODE="SDK_CLIENT_ERROR", ERROR_MESSAGE="Lambda throttled")
    park(queue, {"requestContext": {"condition": "RetryAttemptsExhausted"}, "responseContext": {"functionError": "Unhandled"},
                 "DDBStreamBatchInfo": {"batchSize": 2, "startSequenceNumber": "1", "endSequenceNumber": "2"}})
    parked = Redrive(OWNER, outputs(queue)).parked()
    assert [(p.kind, p.event_type) for p in parked] == [
        (ON_FAILURE, "ORDER_CREATED"), (RULE_TARGET, "ORDER_CREATED"), (STREAM_BATCH, "2 records")]
    assert parked[0].error == "fault injected for ORDER_CREATED"
    assert parked[1].error == "SDK_CLIENT_ERROR Lambda throttled"
    assert {p.event_id for p in parked[:2]} == {str(event.eventId)}


def test_a_dry_run_lists_and_leaves_everything(queue, monkeypatch, capsys):
    park(queue, on_failure_record(orders.created()))
    monkeypatch.setattr(tool, "stack_outputs", lambda stage: outputs(queue))
    assert tool.main([OWNER]) == 0
    assert "1 message(s)" in capsys.readouterr().out
    assert aws_count(queue) == 1


def test_an_on_failure_record_goes_back_to_its_function_then_is_deleted(queue):
    event = orders.created()
    park(queue, on_failure_record(event))
    lambda_ = boto3.client("lambda")
    with Stubber(lambda_) as stub:
        stub.add_response("invoke", {"StatusCode": 202},
                          {"FunctionName": "analytics-fn", "InvocationType": "Event",
                           "Payload": json.dumps(orders.bus_event(event)).encode()})
        redrive = Redrive(OWNER, outputs(queue), lambda_=lambda_)
        [item] = redrive.parked(hold_seconds=30)
        redrive.resend(item)
        stub.assert_no_pending_responses()  # the function was invoked, asynchronously, with the event
        redrive.delete(item)
    assert aws_count(queue) == 0


def test_a_rule_target_dead_letter_goes_back_to_the_bus(queue):
    event = orders.created()
    park(queue, orders.bus_event(event), ERROR_CODE="SDK_CLIENT_ERROR", ERROR_MESSAGE="throttled")
    events = boto3.client("events")
    with Stubber(events) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "x"}]},
                          {"Entries": [{"EventBusName": "test-bus", "Source": "orders.service",
                                        "DetailType": "ORDER_CREATED", "Detail": ANY}]})
        redrive = Redrive(OWNER, outputs(queue), events=events)
        [item] = redrive.parked()
        redrive.resend(item)
        stub.assert_no_pending_responses()  # the event went back to the bus


def test_a_stream_batch_goes_back_to_the_publisher_with_its_records(store):
    for n in range(3):
        store.append([orders.created(order_id=f"o-{n}")])
    records = aws.stream_records()
    stream_arn = boto3.client("dynamodb").describe_table(TableName=aws.EVENT_STORE)["Table"]["LatestStreamArn"]
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    info = {"streamArn": stream_arn, "shardId": shard["ShardId"], "batchSize": 2,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[1]["dynamodb"]["SequenceNumber"]}
    item = tool.Parked("m", "r", STREAM_BATCH, "2 records", info["startSequenceNumber"], "", None, {"DDBStreamBatchInfo": info})
    lambda_ = boto3.client("lambda")
    with Stubber(lambda_) as stub:
        def respond(payload: dict) -> None:
            stub.add_response("invoke", {"StatusCode": 200, "Payload": _body(payload)},
                              {"FunctionName": "publisher-fn", "Payload": ANY})

        respond({"batchItemFailures": []})
        redrive = Redrive("Publisher", {"PublisherDeadLetterQueueUrl": "q", "PublisherFunctionName": "publisher-fn"},
                          lambda_=lambda_)
        assert [r["dynamodb"]["SequenceNumber"] for r in redrive._stream_records(info)] == [
            r["dynamodb"]["SequenceNumber"] for r in records[:2]]
        redrive.resend(item)
        stub.assert_no_pending_responses()  # the publisher was given the batch
        respond({"batchItemFailures": [{"itemIdentifier": info["startSequenceNumber"]}]})
        with pytest.raises(RuntimeError, match="failed again"):
            redrive.resend(item)


def test_a_message_whose_resend_fails_is_kept(queue, monkeypatch, capsys):
    park(queue, on_failure_record(orders.created()))
    monkeypatch.setattr(tool, "stack_outputs", lambda stage: outputs(queue))
    monkeypatch.setattr(Redrive, "resend", lambda self, item: (_ for _ in ()).throw(RuntimeError("function is gone")))
    assert tool.main([OWNER, "--apply"]) == 1
    assert "kept" in capsys.readouterr().err
    assert aws_count(queue, include_hidden=True) == 1


def aws_count(queue_url: str, *, include_hidden: bool = False) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    visible = int(attributes["ApproximateNumberOfMessages"])
    return visible + int(attributes["ApproximateNumberOfMessagesNotVisible"]) if include_hidden else visible


def _body(payload: dict) -> StreamingBody:
    import io

    raw = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))
