"""Tables as the stateful stack defines them, created in moto for handler tests."""

from __future__ import annotations

import boto3

EVENT_STORE = "test-event-store"
ORDERS = "test-orders"
IDEMPOTENCY = "test-idempotency"
USER_EMAILS = "test-user-emails"
INVENTORY = "test-inventory"
EMAIL_LOG = "test-email-log"
ANALYTICS = "test-analytics"
ANALYTICS_EVENTS = "test-analytics-events"
AUDIT = "test-audit"
SENDER = "orders@test.example.com"


def create_tables() -> None:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=EVENT_STORE,
        KeySchema=[{"AttributeName": "aggregateId", "KeyType": "HASH"}, {"AttributeName": "version", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "aggregateId", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    client.create_table(
        TableName=ORDERS,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"},
                              {"AttributeName": "pendingSince", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "pending", "KeySchema": [{"AttributeName": "pendingSince", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    simple = ((IDEMPOTENCY, "id"), (USER_EMAILS, "email"), (INVENTORY, "productId"),
              (EMAIL_LOG, "id"), (ANALYTICS, "pk"))
    for name, key in simple:
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    create_analytics_events(ANALYTICS_EVENTS)
    client.create_table(
        TableName=AUDIT,
        KeySchema=[{"AttributeName": "correlationId", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "correlationId", "AttributeType": "S"},
                              {"AttributeName": "at", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("ses").verify_email_identity(EmailAddress=SENDER)


def create_analytics_events(name: str) -> None:
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "lane", "KeyType": "HASH"}, {"AttributeName": "eventId", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "lane", "AttributeType": "S"},
                              {"AttributeName": "eventId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def stream_records(table_name: str = EVENT_STORE) -> list[dict]:
    """The table's stream as a Lambda event's Records, read from moto's DynamoDB Streams."""
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        records.extend(streams.get_records(ShardIterator=iterator)["Records"])
    return records


def item_count(table_name: str) -> int:
    return boto3.client("dynamodb").scan(TableName=table_name, Select="COUNT")["Count"]


def send_only_what_was_not_answered(monkeypatch) -> None:
    """moto answers every request from the SDK's before-send hook, even one that a fault hook
    (lambdas/common/faults.py) already answered: it would write a throttled PutItem that AWS
    never received. Let moto leave the requests the faults answered (they carry a marker
    header); tests/handlers/test_faults.py shows the difference without this."""
    from moto.core.botocore_stubber import BotocoreStubber

    from common.faults import INJECTED

    answer = BotocoreStubber.__call__

    def unless_answered(self, event_name, request, **kwargs):
        if INJECTED in request.headers:
            return None
        return answer(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", unless_answered)
