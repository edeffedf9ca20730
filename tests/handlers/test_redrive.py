"""The redrive tool: each kind of dead letter goes back where it belongs, and a message is
deleted only once it has been re-sent."""

from __future__ import annotations

import json
from datetime import UTC

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
        QueueUrl=queue_url,
        MessageBody=json.dumps(body),
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
    park(
        queue,
        {
            "requestContext": {"condition": "RetryAttemptsExhausted"},
            "responseContext": {"functionError": "Unhandled"},
            "DDBStreamBatchInfo": {"batchSize": 2, "startSequenceNumber": "1", "endSequenceNumber": "2"},
        },
    )
    parked = Redrive(OWNER, outputs(queue)).parked()
    assert [(p.kind, p.event_type) for p in parked] == [
        (ON_FAILURE, "ORDER_CREATED"),
        (RULE_TARGET, "ORDER_CREATED"),
        (STREAM_BATCH, "2 records"),
    ]
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
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": "analytics-fn",
                "InvocationType": "Event",
                "Payload": json.dumps(orders.bus_event(event)).encode(),
            },
        )
        redrive = Redrive(OWNER, outputs(queue), lambda_=lambda_)
        [item] = redrive.parked(hold_seconds=30)
        redrive.resend(item)
        stub.assert_no_pending_responses()  # the function was invoked, asynchronously, with the event
        redrive.delete(item)
    assert aws_count(queue) == 0


def test_a_rule_target_dead_letter_goes_to_its_consumer_not_back_to_the_bus(queue):
    """Only the outbox's role may put the services' events on the bus (the bus policy), and
    every other consumer has the event already: it goes to the one consumer that missed it."""
    event = orders.created()
    park(queue, orders.bus_event(event), ERROR_CODE="SDK_CLIENT_ERROR", ERROR_MESSAGE="throttled")
    lambda_ = boto3.client("lambda")
    with Stubber(lambda_) as invoked:
        invoked.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": "analytics-fn",
                "InvocationType": "Event",
                "Payload": json.dumps(orders.bus_event(event)).encode(),
            },
        )
        redrive = Redrive(OWNER, outputs(queue), lambda_=lambda_)
        [item] = redrive.parked()
        redrive.resend(item)
        invoked.assert_no_pending_responses()  # the event went to its consumer (Redrive has no bus client)


def test_a_stream_batch_goes_back_to_the_publisher_with_its_records(store):
    for n in range(3):
        store.append([orders.created(order_id=f"o-{n}")])
    records = aws.stream_records()
    stream_arn = boto3.client("dynamodb").describe_table(TableName=aws.EVENT_STORE)["Table"]["LatestStreamArn"]
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    info = {
        "streamArn": stream_arn,
        "shardId": shard["ShardId"],
        "batchSize": 2,
        "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
        "endSequenceNumber": records[1]["dynamodb"]["SequenceNumber"],
    }
    item = tool.Parked(
        "m", "r", STREAM_BATCH, "2 records", info["startSequenceNumber"], "", SENT_AT, {"DDBStreamBatchInfo": info}
    )
    lambda_ = boto3.client("lambda")
    with Stubber(lambda_) as stub:

        def respond(payload: dict) -> None:
            stub.add_response(
                "invoke",
                {"StatusCode": 200, "Payload": _body(payload)},
                {"FunctionName": "publisher-fn", "Payload": ANY},
            )

        respond({"batchItemFailures": []})
        redrive = Redrive(
            "Publisher", {"PublisherDeadLetterQueueUrl": "q", "PublisherFunctionName": "publisher-fn"}, lambda_=lambda_
        )
        assert [r["dynamodb"]["SequenceNumber"] for r in redrive.stream_records(info)] == [
            r["dynamodb"]["SequenceNumber"] for r in records[:2]
        ]
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


# ---- what each kind of dead letter is read as, whole or in part -----------------------------

SENT = "1700000000123"  # SQS's SentTimestamp, epoch milliseconds
SENT_AT = __import__("datetime").datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=__import__("datetime").timezone.utc)


def message(body, **attributes: str) -> dict:
    """A dead letter as ReceiveMessage returns it."""
    found = {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": json.dumps(body),
        "Attributes": {"SentTimestamp": SENT},
    }
    if attributes:
        found["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    return found


def read(body, **attributes: str) -> tuple:
    parked = tool.classify(message(body, **attributes))
    assert (parked.message_id, parked.receipt_handle, parked.sent_at, parked.body) == ("m-1", "r-1", SENT_AT, body)
    return parked.kind, parked.event_type, parked.event_id, parked.error


def test_an_on_failure_record_is_read_for_its_event_and_its_last_error():
    event = orders.created()
    assert read(on_failure_record(event)) == (
        ON_FAILURE,
        "ORDER_CREATED",
        str(event.eventId),
        "fault injected for ORDER_CREATED",
    )
    without_answer = {**on_failure_record(event), "responsePayload": None}
    assert read(without_answer)[3] == "RetriesExhausted"  # no error message: the condition
    assert read({"requestContext": {}, "requestPayload": {"detail": "{not json"}}) == (ON_FAILURE, "?", "?", "")
    assert read({"requestContext": {}, "requestPayload": "not an event"}) == (ON_FAILURE, "?", "?", "")


def test_a_refused_record_is_read_for_its_item_keys_and_reason():
    body = {
        "refusedRecord": {"sequenceNumber": "42", "keys": {"version": {"N": "3"}, "aggregateId": {"S": "order-1"}}},
        "reason": "detail is not a JSON object",
    }
    assert read(body) == (tool.REFUSED, "aggregateId=order-1,version=3", "42", "detail is not a JSON object")
    assert read({"refusedRecord": {}}) == (tool.REFUSED, "?", "?", "")


def test_a_stream_batch_is_read_for_its_size_first_record_and_error():
    info = {"batchSize": 2, "startSequenceNumber": "100", "endSequenceNumber": "101"}
    body = {
        "requestContext": {"condition": "RetryAttemptsExhausted"},
        "responseContext": {"functionError": "Unhandled"},
        "DDBStreamBatchInfo": info,
    }
    assert read(body) == (STREAM_BATCH, "2 records", "100", "Unhandled")
    assert read({**body, "responseContext": {}}) == (STREAM_BATCH, "2 records", "100", "RetryAttemptsExhausted")
    assert read({"DDBStreamBatchInfo": {}}) == (STREAM_BATCH, "? records", "?", "")


def test_a_rule_target_dead_letter_is_read_for_its_event_and_eventbridges_error():
    event = orders.created()
    assert read(orders.bus_event(event), ERROR_CODE="SDK_CLIENT_ERROR") == (
        RULE_TARGET,
        "ORDER_CREATED",
        str(event.eventId),
        "SDK_CLIENT_ERROR",
    )
    assert read(orders.bus_event(event), ERROR_MESSAGE="throttled") == (
        RULE_TARGET,
        "ORDER_CREATED",
        str(event.eventId),
        "throttled",
    )
    assert read({"detail": "not an object"}) == (RULE_TARGET, "?", "?", "")


def test_a_parked_message_says_how_long_it_has_waited():
    from datetime import datetime, timedelta

    def age(**waited) -> str:
        item = tool.Parked("m", "r", ON_FAILURE, "?", "?", "", datetime.now(UTC) - timedelta(**waited), {})
        return item.age

    assert (age(seconds=5), age(minutes=59, seconds=59), age(hours=1), age(hours=26, minutes=7)) == (
        "0m05s",
        "59m59s",
        "1h00m",
        "26h07m",
    )


# ---- re-sending: what counts as sent -----------------------------------------------------------


def test_a_refused_record_is_never_resent():
    parked = tool.Parked(
        "m", "r", tool.REFUSED, "aggregateId=order-1", "42", "detail is not a JSON object", SENT_AT, {}
    )
    with pytest.raises(
        tool.CannotResend,
        match=r"never publishable as it is \(detail is not a JSON object\): "
        r"fix or delete item aggregateId=order-1",
    ):
        Redrive(OWNER, outputs("q")).resend(parked)


def test_an_invoke_lambda_did_not_accept_is_not_sent(queue):
    event = orders.created()
    park(queue, on_failure_record(event))
    park(queue, orders.bus_event(event), ERROR_CODE="SDK_CLIENT_ERROR")
    lambda_ = boto3.client("lambda")
    with Stubber(lambda_) as invoked:
        for _ in range(2):
            invoked.add_response(
                "invoke",
                {"StatusCode": 200},
                {"FunctionName": "analytics-fn", "InvocationType": "Event", "Payload": ANY},
            )
        redrive = Redrive(OWNER, outputs(queue), lambda_=lambda_)
        failure, dead_letter = redrive.parked()
        with pytest.raises(RuntimeError, match="async invoke answered 200"):
            redrive.resend(failure)
        with pytest.raises(RuntimeError, match="async invoke answered 200"):
            redrive.resend(dead_letter)


def test_a_batch_whose_records_have_left_the_stream_says_so(store):
    store.append([orders.created()])
    [record] = aws.stream_records()
    stream_arn = boto3.client("dynamodb").describe_table(TableName=aws.EVENT_STORE)["Table"]["LatestStreamArn"]
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    after = str(int(record["dynamodb"]["SequenceNumber"]) + 1)
    info = {
        "streamArn": stream_arn,
        "shardId": shard["ShardId"],
        "startSequenceNumber": after,
        "endSequenceNumber": after,
    }
    redrive = Redrive("Publisher", {"PublisherDeadLetterQueueUrl": "q", "PublisherFunctionName": "publisher-fn"})
    with pytest.raises(
        RuntimeError, match=r"^the records have left the stream \(24 h\): rebuild from the event store instead$"
    ):
        redrive.stream_records(info)


# ---- the command ---------------------------------------------------------------------------


def test_the_command_lists_each_message_then_resends_and_deletes_it(queue, monkeypatch, capsys):
    event = orders.created()
    park(queue, on_failure_record(event))
    asked: list = []

    def stack_outputs(stage: str) -> dict[str, str]:
        asked.append(stage)
        return outputs(queue)

    monkeypatch.setattr(tool, "stack_outputs", stack_outputs)
    assert tool.main([OWNER, "--stage", "prod"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert asked == ["prod"]
    assert out[0] == "1 message(s) in Analytics's dead-letter queue"
    assert out[1].split() == ["kind", "event", "type", "event", "id", "age", "error"]
    assert out[2].startswith(f"{ON_FAILURE:18} {'ORDER_CREATED':24} {event.eventId!s:38} ")
    assert out[2].endswith("  fault injected for ORDER_CREATED")
    assert out[-1] == "dry run: nothing sent. Fix the cause, then run again with --apply."

    sent: list = []
    monkeypatch.setattr(Redrive, "resend", lambda self, item: sent.append(item.event_id))
    assert tool.main([OWNER, "--apply"]) == 0
    assert sent == [str(event.eventId)] and asked == ["prod", None]
    assert capsys.readouterr().out.splitlines()[-1] == "re-sent and deleted 1; kept 0"
    assert aws_count(queue, include_hidden=True) == 0

    assert tool.main([OWNER]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 message(s) in Analytics's dead-letter queue"]


def test_a_kept_message_is_named_with_why(queue, monkeypatch, capsys):
    event = orders.created()
    park(queue, on_failure_record(event))
    monkeypatch.setattr(tool, "stack_outputs", lambda stage: outputs(queue))
    monkeypatch.setattr(Redrive, "resend", lambda self, item: (_ for _ in ()).throw(RuntimeError("function is gone")))
    assert tool.main([OWNER, "--apply"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == f"kept {event.eventId}: function is gone"
    assert captured.out.splitlines()[-1] == "re-sent and deleted 0; kept 1"


# ---- the exact requests each re-send makes ---------------------------------------------------


STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/test-event-store/stream/2026-11-29T00:00:00.000"
SHARD = "shardId-00000001700000000000-abcdef12"


def test_a_stream_batch_goes_back_as_the_records_lambda_would_have_delivered(store):
    store.append([orders.created()])
    [record] = aws.stream_records()
    info = {
        "streamArn": STREAM,
        "shardId": SHARD,
        "startSequenceNumber": record["dynamodb"]["SequenceNumber"],
        "endSequenceNumber": record["dynamodb"]["SequenceNumber"],
    }
    item = tool.Parked(
        "m", "r", STREAM_BATCH, "1 records", info["startSequenceNumber"], "", SENT_AT, {"DDBStreamBatchInfo": info}
    )
    streams, lambda_ = boto3.client("dynamodbstreams"), boto3.client("lambda")
    expected = json.dumps({"Records": [record]}, default=lambda moment: moment.timestamp()).encode()
    with Stubber(streams) as read, Stubber(lambda_) as invoked:
        for _ in range(2):
            read.add_response(
                "get_shard_iterator",
                {"ShardIterator": "it-1"},
                {
                    "StreamArn": STREAM,
                    "ShardId": SHARD,
                    "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                    "SequenceNumber": info["startSequenceNumber"],
                },
            )
            read.add_response(
                "get_records",
                {"Records": [record], "NextShardIterator": "it-2"},
                {"ShardIterator": "it-1", "Limit": 1000},
            )
            read.add_response("get_records", {"Records": []}, {"ShardIterator": "it-2", "Limit": 1000})
        invoked.add_response(
            "invoke",
            {"StatusCode": 200, "Payload": StreamingBody(__import__("io").BytesIO(b""), 0)},
            {"FunctionName": "publisher-fn", "Payload": expected},
        )
        invoked.add_response(
            "invoke",
            {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": _body({})},
            {"FunctionName": "publisher-fn", "Payload": expected},
        )
        redrive = Redrive(
            "Publisher",
            {"PublisherDeadLetterQueueUrl": "q", "PublisherFunctionName": "publisher-fn"},
            lambda_=lambda_,
            streams=streams,
        )
        redrive.resend(item)  # epoch-second timestamps, as Lambda delivers them; an empty answer is success
        with pytest.raises(RuntimeError, match="the publisher failed again"):
            redrive.resend(item)  # the function failed, whatever its payload said
        read.assert_no_pending_responses() and invoked.assert_no_pending_responses()


def test_the_stream_is_read_page_after_page_up_to_the_batchs_last_record():
    def record(n: int) -> dict:
        return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(10**21 + n)}}

    streams = boto3.client("dynamodbstreams")
    with Stubber(streams) as read:
        read.add_response("get_shard_iterator", {"ShardIterator": "it-1"})
        read.add_response(
            "get_records",
            {"Records": [record(100)], "NextShardIterator": "it-2"},
            {"ShardIterator": "it-1", "Limit": 1000},
        )
        read.add_response(
            "get_records",
            {"Records": [record(101), record(102)], "NextShardIterator": "it-3"},
            {"ShardIterator": "it-2", "Limit": 1000},
        )
        redrive = Redrive(
            "Publisher", {"PublisherDeadLetterQueueUrl": "q", "PublisherFunctionName": "f"}, streams=streams
        )
        found = redrive.stream_records(
            {
                "streamArn": STREAM,
                "shardId": SHARD,
                "startSequenceNumber": str(10**21 + 100),
                "endSequenceNumber": str(10**21 + 101),
            }
        )
        read.assert_no_pending_responses()
    assert [r["dynamodb"]["SequenceNumber"] for r in found] == [str(10**21 + 100), str(10**21 + 101)]


def test_the_queue_is_read_until_two_receives_in_a_row_bring_nothing_new():
    sqs = boto3.client("sqs", region_name="us-east-1")
    first, second = (
        {
            "MessageId": f"m-{n}",
            "ReceiptHandle": f"r-{n}",
            "Body": json.dumps({"DDBStreamBatchInfo": {}}),
            "Attributes": {"SentTimestamp": SENT},
        }
        for n in (1, 2)
    )
    receive = {
        "QueueUrl": "q",
        "MaxNumberOfMessages": 10,
        "VisibilityTimeout": 30,
        "WaitTimeSeconds": 1,
        "AttributeNames": ["SentTimestamp"],
        "MessageAttributeNames": ["All"],
    }
    with Stubber(sqs) as stub:
        for messages in ([first], [first], [second], [], []):  # the same one again is nothing new
            stub.add_response("receive_message", {"Messages": messages} if messages else {}, receive)
        parked = Redrive(OWNER, outputs("q"), sqs=sqs).parked(hold_seconds=30)
        stub.assert_no_pending_responses()  # exactly those five receives: no fewer, and a sixth would fail
        for _ in range(2):
            stub.add_response("receive_message", {}, {**receive, "VisibilityTimeout": 0})
        assert Redrive(OWNER, outputs("q"), sqs=sqs).parked() == []  # an empty queue: two looks, then done
        stub.assert_no_pending_responses()
    assert [p.message_id for p in parked] == ["m-1", "m-2"]


def test_the_command_goes_on_past_a_message_it_cannot_resend_and_counts_both(queue, monkeypatch, capsys):
    for n in range(4):
        park(queue, on_failure_record(orders.created(order_id=f"order-{n}")))
    holds: list[int] = []
    parked = Redrive.parked

    def parked_holding(self: Redrive, hold_seconds: int = 0) -> list[tool.Parked]:
        holds.append(hold_seconds)
        return parked(self)

    monkeypatch.setattr(Redrive, "parked", parked_holding)
    monkeypatch.setattr(tool, "stack_outputs", lambda stage: outputs(queue))
    tries: list[str] = []

    def resend(self, item):
        tries.append(item.event_id)
        if len(tries) % 2:
            raise RuntimeError("x" * 150)

    monkeypatch.setattr(Redrive, "resend", resend)
    assert tool.main([OWNER, "--apply"]) == 1
    assert len(tries) == 4 and holds == [120]  # hidden from others for two minutes while it works
    assert capsys.readouterr().out.splitlines()[-1] == "re-sent and deleted 2; kept 2"
    assert tool.main([OWNER]) == 0 and holds == [120, 0]  # a dry run hides nothing


def test_the_listing_cuts_each_error_to_a_hundred_characters(queue, monkeypatch, capsys):
    record = on_failure_record(orders.created())
    record["responsePayload"]["errorMessage"] = "e" * 100 + "TAIL"
    park(queue, record)
    monkeypatch.setattr(tool, "stack_outputs", lambda stage: outputs(queue))
    tool.main([OWNER])
    row = capsys.readouterr().out.splitlines()[2]
    assert row.endswith("  " + "e" * 100)


def test_the_command_explains_itself(capsys):
    with pytest.raises(SystemExit):
        tool.main(["--help"])
    raw = capsys.readouterr().out
    out = " ".join(raw.split())
    assert out.startswith("usage: python -m ops.redrive [-h] [--apply] [--stage STAGE] owner")
    assert (
        "  on-failure record (the function failed every attempt) -> the function, as an async invoke\n" in raw
    )  # as written
    for text in (
        "List what sits in a dead-letter queue",
        "the consumer (e.g. Analytics) or Publisher whose dead letters to redrive",
        "re-send and delete (default: only list)",
        "dev or prod (default: $STAGE or dev)",
    ):
        assert f" {text} " in f" {out} "
