"""Fault injection: switches read from a function's environment, so a deployed function can be
made to fail on purpose (`make fault`, `make chaos`). No stack sets them (a test checks it) and
on prod every switch reads as off, whatever is set (`switch`, where each is read: no prod function
can fail on purpose; the tools refuse them there too); unset, every switch is off.

  FAULT_INJECTION_EVENT_TYPES=ORDER_CREATED,...   fail every event of these types (consumers)
  FAULT_INJECTION_RATE=0.1                         fail this fraction of invocations at random:
                                                   half before the work, half after its effects
                                                   (a crash between the effect and the record of
                                                   it, which the retry must not repeat)
  FAULT_INJECTION_SEED=1234                        with the rate: decide from the seed, the function
                                                   and the event (its stream, type and version) and how
                                                   many times this process has seen it, not at random:
                                                   a run with the same seed faults the same events
  FAULT_INJECTION_DUPLICATES=1                     the publisher sends each event this many
                                                   extra times (at-least-once delivery, worst case)
  FAULT_INJECTION_REORDER=1                        the publisher sends each batch newest first
                                                   (out-of-order delivery, worst case)
  FAULT_INJECTION_TIMEOUT=1                        with the rate: every fault is a timeout part-way,
                                                   after the work's effects: the function hangs
                                                   until the runtime stops it
  FAULT_INJECTION_THROTTLE=0.05                    this fraction of the AWS calls the function makes
                                                   meet a throttle burst: the service's own throttling
                                                   error (DynamoDB ProvisionedThroughputExceeded or
                                                   ThrottlingException, EventBridge and SQS
                                                   ThrottlingException, SES Throttling, Lambda
                                                   TooManyRequestsException) for 1, 2 or every attempt
                                                   the SDK makes, a third each: the last reaches the
                                                   code as the ClientError AWS would raise
  FAULT_INJECTION_PARTIAL_PUT=0.2                  PutEvents fails this fraction of each call's entries
                                                   (FailedEntryCount > 0; the others are delivered)

The last two act on the SDK's clients (`instrument`, applied by common.clients to every client
it makes), answering from the SDK's own request path: its retries, its error parsing and its
exceptions are the real ones.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import time

SWITCHES = (
    "FAULT_INJECTION_EVENT_TYPES",
    "FAULT_INJECTION_RATE",
    "FAULT_INJECTION_SEED",
    "FAULT_INJECTION_DUPLICATES",
    "FAULT_INJECTION_REORDER",
    "FAULT_INJECTION_TIMEOUT",
    "FAULT_INJECTION_THROTTLE",
    "FAULT_INJECTION_PARTIAL_PUT",
)

BEFORE, AFTER = "before the work", "after the work's effects"
REFUSED_ON = "prod"  # the stage (STAGE, set on every function by the stacks) no switch works on


def switch(name: str) -> str:
    """A switch's value as this function may act on it: "" (off) on prod, whatever is set."""
    if name not in SWITCHES:
        raise KeyError(f"{name} is not a fault switch")
    if os.environ.get("STAGE") == REFUSED_ON:
        return ""
    return os.environ.get(name, "")


class FaultInjected(RuntimeError):
    """Raised on purpose by a fault-injection switch."""


def fail_for_type(event_type: str) -> None:
    types = switch("FAULT_INJECTION_EVENT_TYPES")
    if event_type in {t.strip() for t in types.split(",") if t.strip()}:
        raise FaultInjected(f"fault injected for {event_type} (FAULT_INJECTION_EVENT_TYPES)")


def random_failure_point(key: str = "") -> str | None:
    """Where this invocation, about `key` (what it works on), is to fail (BEFORE or AFTER), or
    None: it does not."""
    rate = _rate()
    if rate <= 0:
        return None
    draw = _draw(key)
    if draw.random() >= rate:
        return None
    point = draw.choice((BEFORE, AFTER))
    return AFTER if _int("FAULT_INJECTION_TIMEOUT") else point


_seen: dict[str, int] = {}  # key -> the attempts this process has made at it (seeded runs only)


def _draw(key: str):
    """The seeded decision for this attempt at `key`; the process's own randomness without a
    seed. A retry that lands in another process counts its attempts from 1 again: a seed
    replays which events meet a fault first, not every retry's fate."""
    if not switch("FAULT_INJECTION_SEED") or not key:
        return random  # the module's own random() and choice()
    attempt = _seen[key] = _seen.get(key, 0) + 1
    return _seeded(f"{key}:{attempt}")


def _seeded(key: str):
    """A draw from the seed, this function and `key` (the module's own randomness unseeded)."""
    seed = switch("FAULT_INJECTION_SEED")
    if not seed:
        return random
    return random.Random(f"{seed}:{os.environ.get('POWERTOOLS_SERVICE_NAME', '')}:{key}")


def fail_at(point: str | None, here: str, context=None) -> None:
    if point != here:
        return
    if _int("FAULT_INJECTION_TIMEOUT"):
        _hang(context)
    raise FaultInjected(f"transient fault injected {here} (FAULT_INJECTION_RATE={_rate()})")


def _hang(context) -> None:
    """A timeout part-way: the work's effects are done and the function never answers. The
    runtime stops it at its timeout; should it not, the fault still fails the invocation."""
    left = context.get_remaining_time_in_millis() / 1000 if context is not None else 900.0
    _log("fault injected: hanging until the function's timeout", secondsLeft=round(left, 1))
    time.sleep(left + 1)
    raise FaultInjected("timed out part-way (FAULT_INJECTION_TIMEOUT): the runtime did not stop the function")


def _log(message: str, **fields) -> None:
    """A WARNING record of what a switch did, as the function's JSON logs write it."""
    print(json.dumps({"level": "WARNING", "message": message, **fields}), flush=True)


def duplicates() -> int:
    return _int("FAULT_INJECTION_DUPLICATES")


def reorder() -> bool:
    return _int("FAULT_INJECTION_REORDER") > 0


def _rate() -> float:
    return _fraction("FAULT_INJECTION_RATE")


def _int(name: str) -> int:
    try:
        return max(0, int(switch(name) or 0))
    except ValueError:
        return 0


# ---- faults the SDK meets: throttling and partial PutEvents --------------------------------------

# The service's own throttling error: (HTTP status, the error codes drawn from).
_THROTTLES = {
    "dynamodb": (400, ("ProvisionedThroughputExceededException", "ThrottlingException")),
    "eventbridge": (400, ("ThrottlingException",)),
    "sqs": (400, ("ThrottlingException",)),
    "ses": (400, ("Throttling",)),
    "lambda": (429, ("TooManyRequestsException",)),
}


def instrument(client):
    """Wire the SDK-level switches into a boto3 client, when they are on (a client made while
    they are off is untouched: no hook on the path of a normal call)."""
    service = client.meta.service_model.service_id.hyphenize()
    if _fraction("FAULT_INJECTION_THROTTLE") > 0 and service in _THROTTLES:
        retries = client.meta.config.retries or {}
        attempts = retries.get("total_max_attempts") or retries.get("max_attempts", 4) + 1
        client.meta.events.register_first(f"before-send.{service}", _Throttle(service, attempts).before_send)
    if _fraction("FAULT_INJECTION_PARTIAL_PUT") > 0 and service == "eventbridge":
        partial = _PartialPut()
        client.meta.events.register("provide-client-params.eventbridge.PutEvents", partial.drop)
        client.meta.events.register_first("before-send.eventbridge.PutEvents", partial.before_send)
        client.meta.events.register("after-call.eventbridge.PutEvents", partial.splice)
    return client


# Set on a request that a fault answered, and so was never sent (an in-process emulator that
# answers from the same hook, as moto does, must leave it alone).
INJECTED = "x-fault-injected"

_calls = itertools.count(1)  # the process's AWS calls, in order: a seeded draw's key


class _Throttle:
    """Answers a throttled call's attempts itself (before they are sent), counting them by the
    SDK's attempt header (`amz-sdk-request: attempt=2; max=3`)."""

    def __init__(self, service: str, attempts: int):
        self.service, self.attempts = service, attempts
        self.status, self.codes = _THROTTLES[service]
        self._bursts: dict[str, tuple[int, str]] = {}  # invocation id -> (attempts throttled, code)
        self._lock = threading.Lock()

    def before_send(self, request, event_name: str = "", **_):
        request.headers.pop(INJECTED, None)  # the same request object is sent again on a retry
        attempt, most = _attempt(request.headers.get("amz-sdk-request")), self.attempts
        invocation = request.headers.get("amz-sdk-invocation-id", b"")
        invocation = invocation.decode() if isinstance(invocation, bytes) else str(invocation)
        with self._lock:
            if attempt == 1:
                draw = _seeded(f"{self.service}:{next(_calls)}")
                if draw.random() < _fraction("FAULT_INJECTION_THROTTLE"):
                    self._bursts[invocation] = (draw.choice((1, 2, most)), draw.choice(self.codes))
            burst = self._bursts.get(invocation)
            if burst is None:
                return None
            if attempt > burst[0] or attempt >= most:
                self._bursts.pop(invocation, None)
            if attempt > burst[0]:
                return None
        _log(
            "fault injected: AWS call throttled",
            service=self.service,
            operation=event_name.rsplit(".", 1)[-1],
            code=burst[1],
            attempt=attempt,
            attempts=most,
            exhausted=attempt >= most,
        )
        request.headers[INJECTED] = "throttle"
        return _throttle_response(self.service, self.status, burst[1], request.url)


def _attempt(header) -> int:
    text = header.decode() if isinstance(header, bytes) else str(header or "")
    fields = dict(part.strip().split("=", 1) for part in text.split(";") if "=" in part)
    try:
        return int(fields.get("attempt", 1))
    except ValueError:
        return 1


def _throttle_response(service: str, status: int, code: str, url: str):
    from botocore.awsrequest import AWSResponse

    message = "Rate exceeded (fault injected: FAULT_INJECTION_THROTTLE)"
    if service == "ses":  # the query protocol answers in XML
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>fault-injected</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    elif service == "lambda":  # rest-json: the code in a header
        body = json.dumps(
            {"message": message, "Type": "User", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}
        ).encode()
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    else:  # json
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(url, status, headers, _Raw(body))


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


class _PartialPut:
    """PutEvents with some entries failed, as AWS answers when it fails entries one by one:
    the entries drawn are taken out of the request before it is sent, and their results put
    back in the answer, at their places, with an error code (FailedEntryCount counts them).
    When every entry of a call is drawn, the call is answered without being sent."""

    def __init__(self):
        self._local = threading.local()

    def drop(self, params, **_):
        entries = params.get("Entries") or []
        draw = _seeded(f"eventbridge.PutEvents:{next(_calls)}")
        failed = [i for i in range(len(entries)) if draw.random() < _fraction("FAULT_INJECTION_PARTIAL_PUT")]
        codes = {i: draw.choice(("InternalFailure", "ThrottlingException")) for i in failed}
        self._local.failed, self._local.total = codes, len(entries)
        if failed:
            _log("fault injected: PutEvents entries failed", failed=len(failed), entries=len(entries))
        kept = [entry for i, entry in enumerate(entries) if i not in codes]
        if kept:
            params["Entries"] = kept
        return None

    def before_send(self, request, **_):
        request.headers.pop(INJECTED, None)
        codes, total = getattr(self._local, "failed", {}), getattr(self._local, "total", 0)
        if not codes or len(codes) < total:
            return None
        request.headers[INJECTED] = "partial-put"
        from botocore.awsrequest import AWSResponse

        body = {"FailedEntryCount": 0, "Entries": []}  # spliced in by `splice`, as for a partial answer
        return AWSResponse(
            request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(json.dumps(body).encode())
        )

    def splice(self, parsed, **_):
        codes, total = getattr(self._local, "failed", {}), getattr(self._local, "total", 0)
        self._local.failed, self._local.total = {}, 0
        if not codes or "Entries" not in parsed:
            return
        delivered = iter(parsed["Entries"])
        parsed["Entries"] = [
            {"ErrorCode": codes[i], "ErrorMessage": "fault injected: FAULT_INJECTION_PARTIAL_PUT"}
            if i in codes
            else next(delivered)
            for i in range(total)
        ]
        parsed["FailedEntryCount"] = parsed.get("FailedEntryCount", 0) + len(codes)


def _fraction(name: str) -> float:
    try:
        return min(1.0, max(0.0, float(switch(name) or 0)))
    except ValueError:
        return 0.0
