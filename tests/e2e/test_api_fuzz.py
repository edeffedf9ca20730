"""The API fuzzed from its OpenAPI document (chaos/fuzz.py): generated requests, valid and broken
at every field, signed and sent to the deployed API. None answers 5xx, and no refused write
leaves an event behind. `make chaos` sends more of them (docs/RELIABILITY.md)."""

from __future__ import annotations

import os

import pytest

from chaos.fuzz import fuzz
from localcloud.api import SigV4

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))  # per operation; make chaos sends more


def test_no_generated_request_gets_a_server_error_or_leaves_a_partial_write(deployment):
    report = fuzz(
        deployment.outputs.api_url,
        SigV4(deployment.env or None),
        deployment.client("dynamodb"),
        deployment.outputs["EventStoreTableName"],
        examples=EXAMPLES,
        seed=17,
        log=lambda line: None,
    )
    print(report.summary())
    refused = sum(n for status, n in report.by_status.items() if 400 <= status < 500)
    accepted = sum(n for status, n in report.by_status.items() if 200 <= status < 300)
    assert report.cases >= 11 * EXAMPLES // 2 and refused > 0 and accepted > 0  # it really sent both kinds
    assert report.refused_writes > 0  # and the no-partial-write rule had writes to check
    assert report.server_errors == []
    assert report.partial_writes == []
