"""One boto3 client per service per process, shared by every class that calls the service (the
event store, the stock, the audit log...). Creating a client loads its service model, a few
milliseconds each; a cold start creates each one once, not once per class.

Retries are the SDK's standard mode, 3 attempts with jittered backoff (1.5 s on average, 3 s
at most, in all): a throttled call fails within seconds and the invocation is retried by Lambda, with
its own backoff, rather than sleeping through the legacy mode's 10 DynamoDB attempts (25 s of
backoff, most of a function's timeout, billed)."""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 3})
# The AWS error codes that mean "too many requests, try later".
THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
    }
)


# What DynamoDB says of an action in a transaction it cancelled for the same reason
# (TransactWriteItems' CancellationReasons): the whole call is then TransactionCanceledException.
THROTTLED_ACTION = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


def throttled(error: ClientError) -> str | None:
    """Why the call was refused for too many requests, or None: its error code, or the reason
    a cancelled DynamoDB transaction gave for one of its actions."""
    code = error.response.get("Error", {}).get("Code", "")
    if code in THROTTLED:
        return code
    if code != "TransactionCanceledException":
        return None
    reasons = error.response.get("CancellationReasons", [])
    return next((reason["Code"] for reason in reasons if reason.get("Code") in THROTTLED_ACTION), None)


@cache
def client(service: str):
    return boto3.client(service, config=RETRIES)
