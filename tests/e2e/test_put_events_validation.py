"""PutEvents refuses what AWS refuses, entry by entry or for the whole request, with AWS's
error codes: each case put with the real AWS CLI, as a user would, next to a valid entry in
the same call that must still be delivered (localcloud/fixes/eventbridge.py, validate_put_events)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.e2e.conftest import aws_cli, delivered, event_id, example_entries

MAX_REQUEST_BYTES = 1024 * 1024  # EventBridge's, since 2026-01-29 (256 KB before)


@pytest.fixture
def put_with_cli(deployment, tmp_path):
    """`aws events put-events --entries file://...`: the CLI's exit code, its answer or its error."""

    def put(entries: list[dict]) -> tuple[int, dict | None, str]:
        path = tmp_path / f"entries-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(entries))
        command = [
            aws_cli(),
            *(["--endpoint-url", deployment.endpoint] if deployment.endpoint else []),
            "events",
            "put-events",
            "--entries",
            f"file://{path}",
            "--output",
            "json",
        ]
        result = subprocess.run(
            command, env={**os.environ, **deployment.env}, capture_output=True, text=True, timeout=60
        )
        return result.returncode, json.loads(result.stdout) if result.stdout.strip() else None, result.stderr

    return put


def good(deployment) -> list[dict]:
    return example_entries(deployment, "order-created")[1]


def test_a_detail_that_is_not_a_json_object_is_refused_as_malformed_and_the_rest_delivered(deployment, put_with_cli):
    bus, valid = deployment.outputs["EventBusName"], good(deployment)
    malformed = [
        {"EventBusName": bus, "Source": "orders.service", "DetailType": "ORDER_CREATED", "Detail": detail}
        for detail in ("{not json", "[1, 2]", '"a string"')
    ]
    code, answer, stderr = put_with_cli([*malformed, *valid])
    assert code == 0, stderr
    assert answer["FailedEntryCount"] == 3
    assert answer["Entries"][:3] == [{"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}] * 3
    assert "EventId" in answer["Entries"][3]
    assert delivered(deployment, "Audit", event_id(valid), 1) == ["recorded"]  # a consumer that acts on any event


@pytest.mark.parametrize("missing", ["Source", "DetailType", "Detail"])
def test_an_entry_without_a_required_field_is_refused_naming_it(deployment, put_with_cli, missing):
    valid = good(deployment)
    incomplete = {k: v for k, v in good(deployment)[0].items() if k != missing}
    code, answer, stderr = put_with_cli([incomplete, *valid])
    assert code == 0, stderr
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": f"Parameter {missing} is not valid. Reason: {missing} is a required argument.",
    }
    assert delivered(deployment, "Audit", event_id(valid), 1) == ["recorded"]  # a consumer that acts on any event


def test_more_than_ten_entries_are_refused_whole(put_with_cli, deployment):
    code, answer, stderr = put_with_cli([good(deployment)[0] for _ in range(11)])
    assert code != 0 and answer is None
    assert "ValidationException" in stderr and "less than or equal to 10" in stderr


def test_entries_over_1_mb_in_all_are_refused_whole_and_at_1_mb_or_300_kb_taken(put_with_cli, deployment):
    bus = deployment.outputs["EventBusName"]

    def entry(total: int) -> dict:
        """An entry of exactly `total` bytes as EventBridge counts them (no rule routes its source)."""
        source, detail_type = "e2e.size-check", "SIZE_CHECK"
        padding = total - len(source) - len(detail_type) - len(json.dumps({"p": ""}))
        return {
            "EventBusName": bus,
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps({"p": "x" * padding}),
        }

    code, answer, stderr = put_with_cli([entry(300 * 1024)])
    assert code == 0 and answer["FailedEntryCount"] == 0, stderr  # 300 KB: over the old limit, taken
    code, answer, stderr = put_with_cli([entry(MAX_REQUEST_BYTES // 2), entry(MAX_REQUEST_BYTES // 2)])
    assert code == 0 and answer["FailedEntryCount"] == 0, stderr  # exactly 1 MB: taken
    code, answer, stderr = put_with_cli([entry(MAX_REQUEST_BYTES // 2), entry(MAX_REQUEST_BYTES // 2 + 1)])
    assert code != 0 and answer is None
    assert "ValidationException" in stderr and "Total size of the entries in the request is over the limit" in stderr


def test_an_entry_for_a_bus_that_does_not_exist_is_accepted_as_on_aws(put_with_cli, deployment):
    entry = {**good(deployment)[0], "EventBusName": "no-such-bus"}
    code, answer, stderr = put_with_cli([entry])
    assert code == 0, stderr
    assert answer["FailedEntryCount"] == 0 and "EventId" in answer["Entries"][0]  # AWS: aws/aws-cli#9186
