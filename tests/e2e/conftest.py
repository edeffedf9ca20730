"""End-to-end fixtures: a deployed platform to talk to, over HTTP and through the AWS CLI.

By default the session starts its own local cloud on a free port (state in a temp folder),
deploys both stacks with the real CDK CLI, and stops it at the end. With E2E_TARGET=aws the
same tests run against stacks already deployed to the AWS account of the environment's
credentials (STAGE picks which): nothing here assumes the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from catalog import CATALOG, EventType
from catalog.examples import EXAMPLES, malformed_examples
from localcloud.cloud import ROOT, LocalCloud, Outputs, free_port
from localcloud.customers import Customer, Customers

T = TypeVar("T")
ON_AWS = os.environ.get("E2E_TARGET") == "aws"
# How long an event may take to be retried and parked: seconds locally, minutes on AWS
# (Lambda retries a failed async invoke after about 1 and then 2 more minutes).
PARK_TIMEOUT = 600 if ON_AWS else 30
STAGE = os.environ.get("STAGE", "dev")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def aws_cli() -> str:
    """The AWS CLI binary: AWS_CLI if set, else Debian's v2 (/usr/bin/aws), else `aws`."""
    for candidate in (os.environ.get("AWS_CLI"), "/usr/bin/aws", shutil.which("aws")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("the AWS CLI is not installed: `make test` installs Debian's awscli (or set AWS_CLI)")


# The products the tests order by name, as staff priced them (others are each test's own).
PRICE_LIST = {"SKU-1": "19.99", "SKU-2": "5.00", "SKU-9": "9.99"}


@dataclass
class HttpResponse:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Deployment:
    outputs: Outputs
    endpoint: str | None  # None on AWS
    env: dict[str, str] = field(default_factory=dict)

    # ---- the AWS CLI, as a user types it --------------------------------------------------

    def aws(self, *args: str) -> Any:
        command = [aws_cli()]
        if self.endpoint:
            command += ["--endpoint-url", self.endpoint]
        command += [*args, "--output", "json"]
        result = subprocess.run(command, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else None

    # ---- boto3, for what a test inspects --------------------------------------------------

    def client(self, service: str):
        kwargs = {"endpoint_url": self.endpoint} if self.endpoint else {}
        if self.env:
            kwargs |= {
                "region_name": self.env["AWS_REGION"],
                "aws_access_key_id": self.env["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": self.env["AWS_SECRET_ACCESS_KEY"],
            }
        return boto3.client(service, **kwargs)

    # ---- the operations tools, as an operator runs them ---------------------------------------

    def tool(self, module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.env, "STAGE": STAGE}
        return subprocess.run(
            [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )

    # ---- customers, as the user pool knows them ------------------------------------------------

    def sign_up(self, name: str = "customer") -> Customer:
        """A new customer of the user pool, confirmed and signed in (an address of their own)."""
        return Customers(self.outputs, self.env or None, self.endpoint).sign_up(
            f"{name}-{uuid.uuid4().hex[:12]}@example.com"
        )

    @cached_property
    def customer(self) -> Customer:
        """The session's customer, whose token the requests to customer routes carry by default."""
        return self.sign_up("e2e")

    # ---- the HTTP API -----------------------------------------------------------------------

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        customer: Customer | None = None,
        auth: str | None = None,
    ) -> HttpResponse:
        """A request to the API through the route's door: a customer route with the customer's ID
        token (the session's customer unless another is given), a staff route signed with SigV4.
        `auth` forces a door ("token", "sigv4", "none"), as an attacker would."""
        from localcloud.api import Api

        token = (customer or self.customer).id_token
        answer = Api(self.outputs.api_url, self.env or None, token=token).send(
            method, path, body, headers=headers, timeout=30, auth=auth
        )
        return HttpResponse(answer.status, answer.body, answer.headers)

    def stream(self, aggregate_id: str) -> list[dict]:
        """A stream's events as the event store holds them (its details), oldest first."""
        items = self.client("dynamodb").query(
            TableName=self.outputs["EventStoreTableName"],
            KeyConditionExpression="aggregateId = :id",
            ExpressionAttributeValues={":id": {"S": aggregate_id}},
            ConsistentRead=True,
        )["Items"]
        return [json.loads(item["detail"]["S"]) for item in items]

    def priced(self, prices: dict[str, str]) -> Deployment:
        """Staff price these products in euros (their stock left as it is)."""
        for sku, price in prices.items():
            assert self.http("PUT", f"/inventory/{sku}/prices", {"prices": {"EUR": price}}).status == 200
        return self

    def product(self, quantity: int, price: str = "10.00", *, sku: str | None = None) -> str:
        """A product staff stocked and priced in euros (a new one, unless named), as the README does."""
        sku = sku or f"SKU-{uuid.uuid4().hex[:10]}"
        assert self.http("PUT", f"/inventory/{sku}", {"quantity": quantity}).status == 200
        assert self.http("PUT", f"/inventory/{sku}/prices", {"prices": {"EUR": price}}).status == 200
        return sku


def eventually(check: Callable[[], T], *, timeout: float = 30, interval: float = 0.5) -> T:
    """Poll until check() returns without an AssertionError; the platform is eventually consistent."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def _aws_outputs() -> Outputs:
    from ops.deployment import stack_outputs

    return Outputs(stack_outputs(STAGE), endpoint=None)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    if ON_AWS:
        yield Deployment(_aws_outputs(), endpoint=None).priced(PRICE_LIST)
        return
    cloud = LocalCloud(port=free_port(), state_dir=tmp_path_factory.mktemp("local-cloud"), stage=STAGE)
    cloud.start()
    try:
        outputs = cloud.deploy(quiet=True)
        yield Deployment(outputs, endpoint=cloud.endpoint, env=cloud.aws_env()).priced(PRICE_LIST)
    finally:
        cloud.stop()


@pytest.fixture
def put_events(deployment, tmp_path):
    """Put entries on the bus with the AWS CLI, from a file, as the README shows."""

    def put(entries: list[dict]) -> dict:
        path = tmp_path / f"entries-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(entries))
        result = deployment.aws("events", "put-events", "--entries", f"file://{path}")
        assert result["FailedEntryCount"] == 0, result
        return result

    return put


# ---- building and inspecting events ---------------------------------------------------------


def example_entries(deployment: Deployment, name: str, *, day: str | None = None, **changes) -> tuple[str, list[dict]]:
    """A catalog example (or malformed example) with a fresh aggregate id and event id, as
    put-events entries for the deployment's bus; `day` moves its timestamp to that date."""
    aggregate_id = f"e2e-{uuid.uuid4()}"
    detail = EXAMPLES[name].to_detail() if name in EXAMPLES else malformed_examples()[name]
    detail |= {"eventId": str(uuid.uuid4()), "aggregateId": aggregate_id, **changes}
    if day:
        detail["timestamp"] = f"{day}T12:00:00.000Z"
    payload_id = "userId" if detail["eventType"] == "USER_REGISTERED" else "orderId"
    detail["payload"] = detail["payload"] | {payload_id: aggregate_id}
    event_type = EventType(detail["eventType"])
    entry = {
        "EventBusName": deployment.outputs["EventBusName"],
        "Source": CATALOG[event_type].source.value,
        "DetailType": event_type.value,
        "Detail": json.dumps(detail),
    }
    return aggregate_id, [entry]


def event_id(entries: list[dict]) -> str:
    return json.loads(entries[0]["Detail"])["eventId"]


def stored_examples(deployment: Deployment, *names: str, day: str) -> tuple[str, list[dict]]:
    """Catalog examples as one new order's stream (fresh ids, the day's timestamps), appended to
    the event store as its producer would, in one transaction: the publisher puts them on the bus,
    and the consumers that act only on the store's events take them. Returns the stream's id and
    the events as put-events entries (the bus's copy, to deliver again by hand)."""
    from catalog import parse_event
    from eventstore.store import EventStore

    aggregate_id = f"e2e-{uuid.uuid4()}"
    events = []
    for version, name in enumerate(names, 1):
        detail = EXAMPLES[name].to_detail() | {
            "eventId": str(uuid.uuid4()),
            "aggregateId": aggregate_id,
            "timestamp": f"{day}T12:00:{version:02d}.000Z",
        }
        detail["metadata"] = detail["metadata"] | {"version": version, "causationId": None}
        detail["payload"] = detail["payload"] | {"orderId": aggregate_id}
        events.append(parse_event(detail))
    EventStore(deployment.outputs["EventStoreTableName"], client=deployment.client("dynamodb")).append(events)
    return aggregate_id, [
        {
            "EventBusName": deployment.outputs["EventBusName"],
            "Source": CATALOG[EventType(e.eventType)].source.value,
            "DetailType": e.eventType,
            "Detail": e.to_json(),
        }
        for e in events
    ]


def unique_day() -> str:
    """A past date no other test counts into, so per-day counters can be asserted exactly."""
    from datetime import date, timedelta

    return (date(2001, 1, 1) + timedelta(days=uuid.uuid4().int % 7000)).isoformat()


def log_lines(deployment: Deployment, consumer: str, message: str, wanted_event_id: str) -> list[str]:
    """The consumer's log lines with this message about this event, oldest first: "event
    consumed" once a delivery handled, "event failed" once an attempt that failed."""
    logs = deployment.client("logs")
    group = deployment.outputs[f"{consumer}LogGroupName"]
    found = [
        entry
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
        for entry in page["events"]
        if f'"{message}"' in entry["message"] and wanted_event_id in entry["message"]
    ]
    return [entry["message"] for entry in sorted(found, key=lambda entry: entry["timestamp"])]


def logged(deployment: Deployment, consumer: str, message: str, wanted_event_id: str) -> int:
    """How many lines a consumer logged with this message about this event."""
    return len(log_lines(deployment, consumer, message, wanted_event_id))


def outcomes(deployment: Deployment, consumer: str, wanted_event_id: str) -> list[str]:
    """What a consumer did with each delivery of this event, oldest first, as it logged it."""
    return [json.loads(line)["outcome"] for line in log_lines(deployment, consumer, "event consumed", wanted_event_id)]


def delivered(deployment: Deployment, consumer: str, wanted_event_id: str, times: int) -> list[str]:
    """Wait until the consumer has handled this event `times` times; what it did each time. A
    check that nothing else happened holds only once the thing that could have done it has run."""

    def handled() -> list[str]:
        seen = outcomes(deployment, consumer, wanted_event_id)
        assert len(seen) >= times, seen
        return seen

    return eventually(handled, timeout=60)


def parked(deployment: Deployment, owner: str, wanted_event_id: str) -> dict:
    """The dead-letter message carrying this event id (left in the queue, still visible)."""
    found = dead_letters(deployment, owner).get(wanted_event_id)
    if found is None:
        raise AssertionError(f"event {wanted_event_id} is not in {owner}'s dead-letter queue")
    return found


def dead_letters(deployment: Deployment, owner: str, *, timeout: float = 30) -> dict[str, dict]:
    """Every message in the owner's dead-letter queue, by the event id it carries: received
    until as many distinct messages were seen as the queue says it holds, so that what is not
    returned is not there. Each is hidden while the rest are read (a receive gives at most 10,
    and would give the same 10 again), then made visible again at once: nothing is taken."""
    sqs = deployment.client("sqs")
    url = deployment.outputs[f"{owner}DeadLetterQueueUrl"]
    seen: dict[str, dict] = {}
    by_event: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            held = int(attributes["ApproximateNumberOfMessages"]) + int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            )
            if len(seen) >= held:
                return by_event
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(seen)} of the {held} messages in {owner}'s dead-letter queue")
            for message in sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", []):
                seen[message["MessageId"]] = message
                body = json.loads(message["Body"])
                detail = body.get("requestPayload", body).get("detail", {})
                if isinstance(detail, dict) and detail.get("eventId"):
                    by_event[str(detail["eventId"])] = body
    finally:
        handles = [m["ReceiptHandle"] for m in seen.values()]
        for start in range(0, len(handles), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(handles[start : start + 10])
                ],
            )


# ---- holding the saga back ------------------------------------------------------------------


def fault(deployment: Deployment, consumer: str, types: str | None) -> None:
    """Deploy a consumer that fails these event types (None: the fixed one), with ops.fault."""
    result = deployment.tool("ops.fault", consumer, *(["--types", types] if types else []))
    assert result.returncode == 0, result.stderr


@pytest.fixture
def stalled(deployment):
    """A consumer made to fail one event type for the length of a test."""
    stalled_consumers = []

    def stall(consumer: str, event_type: str) -> None:
        fault(deployment, consumer, event_type)
        stalled_consumers.append(consumer)

    yield stall
    for consumer in stalled_consumers:
        fault(deployment, consumer, None)


@pytest.fixture
def order_open(stalled):
    """Orders stay open for changes: the saga fails ORDER_CREATED, so it never asks for their
    payment while a test changes them (once it has, an order's lines are closed)."""
    stalled("OrderSaga", "ORDER_CREATED")


@pytest.fixture
def saga_on_hold(stalled):
    """Orders stay PENDING: payment never answers, so the saga neither completes nor cancels
    them while a test updates and cancels them itself."""
    stalled("Payments", "PAYMENT_REQUESTED")
