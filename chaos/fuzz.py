"""The API fuzzer: schemathesis generates requests from docs/openapi.json (valid ones, and ones
broken at every field), each sent to the deployed API through its route's door (`Doors`: a
customer's ID token on the customer routes, SigV4 on the staff ones). Two rules, for every
request:

- **nothing answers 5xx**: whatever the request, the API answers it, refusing with a 4xx that
  says why;
- **nothing refused writes anything**: each request carries a correlation id of its own, and
  once every request is answered the event store must hold no event with the id of a refused
  write (a POST or PUT answered 4xx): a command is all or nothing. One scan of the store at the
  end checks them all, however many were sent. A customer's correlation id comes back tagged
  as theirs: the id looked for is the one the API answered with.

`make test` sends a few examples of each operation (tests/e2e/test_api_fuzz.py); `make chaos`
sends more and records the counts in docs/RELIABILITY.md.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded

from chaos import ROOT
from localcloud.api import SIGV4, TOKEN, Api, SigV4

DOCUMENT = ROOT / "docs" / "openapi.json"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class Doors(requests.auth.AuthBase):
    """`requests` auth that sends each request through its route's door, as localcloud.api.Api
    does: a customer route with this customer's ID token, a staff route signed with SigV4."""

    def __init__(self, api_url: str, env: dict[str, str] | None, token: str):
        self._api, self._sigv4 = Api(api_url, env, token=token), SigV4(env)
        self._base = urlsplit(api_url).path.rstrip("/")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = urlsplit(str(request.url)).path.removeprefix(self._base)
        if self._api.door(path) == TOKEN:
            request.headers["Authorization"] = str(self._api.token)
            return request
        assert self._api.door(path) == SIGV4
        return self._sigv4(request)


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
        return (
            f"{self.cases} requests (seed {self.seed}; {statuses}): {len(self.server_errors)} answered 5xx, "
            f"{len(self.partial_writes)} of {self.refused_writes} refused writes left an event"
        )


def fuzz(
    api_url: str,
    auth: requests.auth.AuthBase,
    dynamodb,
    event_store: str,
    *,
    examples: int,
    seed: int,
    document: Path = DOCUMENT,
    log=print,
) -> FuzzReport:
    """`examples` generated requests for each operation of the document, sent to api_url."""
    import schemathesis
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_path(str(document))
    report = FuzzReport(seed=seed)
    session = requests.Session()
    refused: dict[str, str] = {}  # correlation id -> what was sent and answered
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise RuntimeError(f"docs/openapi.json has an operation schemathesis cannot read: {result.err()}")
        operation = result.ok()

        @seeded(seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def send(case) -> None:
            correlation_id = f"fuzz-{uuid.uuid4().hex[:16]}"
            case.headers = {**(case.headers or {}), "X-Correlation-Id": correlation_id}
            response = _call(case, api_url, session, auth)
            correlation_id = response.headers.get("X-Correlation-Id") or correlation_id  # the one events carry
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
        time.sleep(min(2.0, 0.05 * 2**attempt))
    return response


def _fuzzed_correlation_ids(dynamodb, table: str) -> set[str]:
    """The correlation ids of the fuzzer's requests that left an event in the store: one
    consistent scan (the store has no index on correlation ids, and needs none for this)."""
    found: set[str] = set()
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ConsistentRead=True,
        FilterExpression="begins_with(correlationId, :f)",
        ExpressionAttributeValues={":f": {"S": "fuzz-"}},
        ProjectionExpression="correlationId",
    )
    for page in pages:
        found.update(item["correlationId"]["S"] for item in page["Items"])
    return found


def record(report: FuzzReport) -> dict:
    return {
        "seed": report.seed,
        "cases": report.cases,
        "byStatus": {str(k): v for k, v in sorted(report.by_status.items())},
        "refusedWrites": report.refused_writes,
        "serverErrors": report.server_errors,
        "partialWrites": report.partial_writes,
    }
