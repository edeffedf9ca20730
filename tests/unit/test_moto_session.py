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
