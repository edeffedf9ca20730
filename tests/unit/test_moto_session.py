"""The suite's moto (tests/support/aws.py): one boto3 session kept across tests for speed, never
one that another test left behind (with its own credentials, or made before moto's hook)."""

from __future__ import annotations

import boto3

from tests.support import aws


def test_moto_runs_on_the_suites_own_session_and_puts_back_the_one_it_found(monkeypatch):
    left = boto3.Session(aws_access_key_id="left-by-another", aws_secret_access_key="x", region_name="us-east-1")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", left)  # as the benchmark's moto server does

    for _ in range(2):
        with aws.moto():
            assert boto3.DEFAULT_SESSION is not left
            assert boto3.DEFAULT_SESSION.get_credentials().access_key != "left-by-another"
            aws.create_tables()  # answered by moto: no network here
            assert aws.EVENT_STORE in boto3.client("dynamodb").list_tables()["TableNames"]
            kept = boto3.DEFAULT_SESSION
        assert boto3.DEFAULT_SESSION is left
    with aws.moto():
        assert boto3.DEFAULT_SESSION is kept  # the same session each time: models loaded once


def described(client) -> dict:
    """Every table as DescribeTable and DescribeTimeToLive answer, less what names the time it
    was made."""
    tables = {}
    for name in sorted(client.list_tables()["TableNames"]):
        table = client.describe_table(TableName=name)["Table"]
        for when in ("CreationDateTime", "LatestStreamLabel", "LatestStreamArn"):
            table.pop(when, None)
        table["TimeToLive"] = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        tables[name] = table
    return tables


def test_each_moto_starts_with_the_tables_moto_makes_and_nothing_a_test_before_wrote(monkeypatch):
    monkeypatch.setattr(aws, "_tables_made", {})
    with aws.moto():
        aws.create_tables()  # moto's CreateTable
        made = described(boto3.client("dynamodb"))
        born = boto3.client("dynamodb").describe_table(TableName=aws.EVENT_STORE)["Table"]["CreationDateTime"]
        boto3.client("dynamodb").put_item(TableName=aws.ORDERS, Item={"orderId": {"S": "left-behind"}})
    assert aws._tables_made  # copies of them, for the next
    with aws.moto():
        aws.create_tables()
        client = boto3.client("dynamodb")
        assert described(client) == made
        assert client.describe_table(TableName=aws.EVENT_STORE)["Table"]["CreationDateTime"] == born  # copied
        assert client.scan(TableName=aws.ORDERS)["Items"] == []
        client.put_item(TableName=aws.EVENT_STORE, Item={"aggregateId": {"S": "o-1"}, "version": {"N": "1"}})
        assert [r["eventName"] for r in aws.stream_records()] == ["INSERT"]  # its own stream, from empty
    with aws.moto():
        aws.create_tables()
        assert boto3.client("dynamodb").scan(TableName=aws.EVENT_STORE)["Items"] == []
        assert aws.stream_records() == []  # nothing the test before wrote
