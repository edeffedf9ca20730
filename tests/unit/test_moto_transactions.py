"""moto's TransactWriteItems backs up each table it writes to, all its items and stream records,
once for each of its actions on it; the suite's moto (tests/support/aws.py, `rollback_by_item`)
backs up only the items the actions name, and leaves the same items and stream records after a
transaction, applied or cancelled."""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.support import aws


def a_transaction(monkeypatch, *, cancelled: bool) -> tuple[int, dict, int]:
    """An update, a put, a delete and a condition check on one table with a stream (the check
    failing when `cancelled`; the put naming the table by its ARN): how many times the table was
    deep-copied, and the items and the number of stream records after it."""
    from moto.dynamodb.models.table import Table

    copies = 0
    deepcopy = copy.deepcopy

    def counting(value, memo=None):
        nonlocal copies
        copies += isinstance(value, Table)
        return deepcopy(value, memo)

    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    for pk in ("kept", "gone", "there"):
        client.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"N": "1"}, "v": {"N": "1"}})

    arn = client.describe_table(TableName="t")["Table"]["TableArn"]

    def key(pk: str) -> dict:
        return {"pk": {"S": pk}, "sk": {"N": "1"}}

    actions = [
        {
            "Update": {
                "TableName": "t",
                "Key": key("kept"),
                "UpdateExpression": "SET v = v + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Put": {"TableName": arn, "Item": {**key("new"), "v": {"N": "1"}}}},  # a table by its ARN too
        {"Delete": {"TableName": "t", "Key": key("gone")}},
        {
            "ConditionCheck": {
                "TableName": "t",
                "Key": key("there"),
                "ConditionExpression": "v = :v",
                "ExpressionAttributeValues": {":v": {"N": "2" if cancelled else "1"}},
            }
        },
    ]
    monkeypatch.setattr(copy, "deepcopy", counting)
    try:
        client.transact_write_items(TransactItems=actions)
    except ClientError as error:
        assert cancelled and error.response["Error"]["Code"] == "TransactionCanceledException"
    else:
        assert not cancelled
    finally:
        monkeypatch.setattr(copy, "deepcopy", deepcopy)
    items = {item["pk"]["S"]: item["v"]["N"] for item in client.scan(TableName="t")["Items"]}
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = client.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    return copies, items, len(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"])


@pytest.mark.parametrize(
    ("cancelled", "after"),
    [
        (False, ({"kept": "2", "new": "1", "there": "1"}, 3 + 3)),
        (True, ({"kept": "1", "gone": "1", "there": "1"}, 3)),
    ],
)
def test_moto_copies_a_table_for_each_action_the_suites_moto_puts_back_only_the_items(monkeypatch, cancelled, after):
    with mock_aws():
        assert a_transaction(monkeypatch, cancelled=cancelled) == (3, *after)  # not for the ARN
    with mock_aws(), aws.rollback_by_item():
        assert a_transaction(monkeypatch, cancelled=cancelled) == (0, *after)
