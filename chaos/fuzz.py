"""The API fuzzer: schemathesis generates requests from docs/openapi.json (valid ones, and ones
broken at every field), each signed with SigV4 and sent to the deployed API. Two rules, for
every request:

- **nothing answers 5xx**: whatever the request, the API answers it, refusing with a 4xx that
  says why;
- **nothing refused writes anything**: each request carries a correlation id of its own, and
  once every request is answered the event store must hold no event with the id of a refused
  write (a POST or PUT answered 4xx): a command is all or nothing. One scan of the store at the
  end checks them all, however many were sent.

`make test` sends a few examples of each operation (tests/e2e/test_api_fuzz.py); `make chaos`
sends more and records the counts in docs/RELIABILITY.md.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded

from chaos import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class FuzzReport:
    seed: int
    cases: int = 0
    by_status: Counter = field(default_factory=Counter)
    refused_writes: int = 0  # writes answered 4xx, each checked for an event
    server_errors: list[str] = field(default_factory=list)  # what answered 5xx
    partial_writes: list[str] = field(default_factory=list)  # refused writes that left an event

    def summary(self) -> str:
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.by_status.items()))
        return (f"{self.cases} requests (seed {self.seed}; {statuses}): {len(self.server_errors)} answered 5xx, "
                f"{len(self.partial_writes)} of {self.refused_writes} refused writes left an event")


def fuzz(api_url: str, auth: requests.auth.AuthBase, dynamodb, event_store: str, *, examples: int,
         seed: int, document: Path = DOCUMENT, log=print) -> FuzzReport:
    """`examples` generated requests for each operation of the document, sent to api_url."""
    import schemathesis

    schema = schemathesis.openapi.from_path(str(document))
    report = FuzzReport(seed=seed)
    session = requests.Session()
    refused: dict[str, str] = {}  # correlation id -> what was sent and answered
    for result in schema.get_all_operations():
        operation = result.ok()

        @seeded(seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def send(case) -> None:
            correlation_id = f"fuzz-{uuid.uuid4().hex[:16]}"
            case.headers = {**(case.headers or {}), "X-Correlation-Id": correlation_id}
            response = _call(case, api_url, session, auth)
            report.cases += 1
            report.by_status[response.status_code] += 1
            what = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
            if response.status_code >= 500:
                report.server_errors.append(what)
            if case.method in WRITES and 400 <= response.status_code < 500:
                refused[correlation_id] = what

        send()
        log(f"  {operation.method.upper()} {operation.path}: {report.cases} requests so far")
    written = _fuzzed_correlation_ids(dynamodb, event_store)
    report.refused_writes = len(refused)
    report.partial_writes = [what for correlation_id, what in refused.items() if correlation_id in written]
    return report


def _call(case, api_url: str, session: requests.Session, auth) -> requests.Response:
    """Send the case; a 429 (the stage's throttling) is sent again after a growing pause."""
    for attempt in range(8):
        response = case.call(base_url=api_url, session=session, auth=auth, timeout=60)
        if response.status_code != 429:
            return response
        time.sleep(min(2.0, 0.05 * 2 ** attempt))
    return response


def _fuzzed_correlation_ids(dynamodb, table: str) -> set[str]:
    """The correlation ids of the fuzzer's requests that left an event in the store: one
    consistent scan (the store has no index on correlation ids, and needs none for this)."""
    found: set[str] = set()
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table, ConsistentRead=True, FilterExpression="begins_with(correlationId, :f)",
        ExpressionAttributeValues={":f": {"S": "fuzz-"}}, ProjectionExpression="correlationId")
    for page in pages:
        found.update(item["correlationId"]["S"] for item in page["Items"])
    return found


def record(report: FuzzReport) -> dict:
    return {"seed": report.seed, "cases": report.cases, "byStatus": {str(k): v for k, v in sorted(report.by_status.items())},
            "refusedWrites": report.refused_writes, "serverErrors": report.server_errors, "partialWrites": report.partial_writes}

