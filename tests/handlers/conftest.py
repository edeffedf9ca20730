"""Handler tests run against moto: real boto3 calls, in-process AWS."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.support import aws


@pytest.fixture
def tables(monkeypatch):
    for variable, value in aws.environment().items():
        monkeypatch.setenv(variable, value)
    aws.send_only_what_was_not_answered(monkeypatch)
    with aws.moto():
        aws.create_tables()
        yield


@pytest.fixture
def store(tables):
    from eventstore.store import EventStore

    return EventStore(aws.EVENT_STORE)


@pytest.fixture
def bus_to_queue(tables):
    """A bus whose every event lands in a queue, so a test can read what was published."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=aws.BUS)
    queue_url = sqs.create_queue(QueueName="published")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=aws.BUS, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="all", EventBusName=aws.BUS, Targets=[{"Id": "q", "Arn": queue_arn}])

    def published() -> list[dict]:
        messages = []
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
            messages += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch]
            )
        return messages

    return published


def faults_on_the_sdk(monkeypatch) -> None:
    """What the fault-injection wrapper does before a function's module makes its first client
    (fault_injection/python/platform_faults/wrapper.py): the SDK-level switches set in the
    environment, wired into a new default session, for this test only. A seeded draw is keyed
    by the process's count of AWS calls: counted from this test's first call, as in a new
    function process, the same calls fail whichever tests ran before it in the worker."""
    import itertools

    import boto3

    from platform_faults import sdk

    monkeypatch.setattr(sdk, "_calls", itertools.count(1))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    sdk.install()
    aws.new_container()  # the function's clients are made from it
