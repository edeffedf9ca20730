"""Faults the SDK meets, as AWS makes them: throttles, a PutEvents with some entries failed, and
each event put again (at-least-once delivery, worst case). Each answers from the SDK's own
request path, so its retries, its error parsing and its exceptions are the real ones.

`install` wires them into every client made from boto3's default session after it (the wrapper
calls it before it imports the function's own module); `instrument`, into one client (the
chaos suite's own redrive tool)."""

from __future__ import annotations

import itertools
import json
import threading

from platform_faults.switches import DUPLICATES, PARTIAL_PUT, THROTTLE, _int, _log, _seeded, fraction

# ---- faults the SDK meets: throttling and partial PutEvents --------------------------------------

# The service's own throttling error: (HTTP status, the error codes drawn from).
_THROTTLES = {
    "dynamodb": (400, ("ProvisionedThroughputExceededException", "ThrottlingException")),
    "eventbridge": (400, ("ThrottlingException",)),
    "sqs": (400, ("ThrottlingException",)),
    "ses": (400, ("Throttling",)),
    "lambda": (429, ("TooManyRequestsException",)),
}


def install() -> None:
    """Wire the SDK-level switches that are on into boto3's default session: every client made
    from it afterwards meets them (none is touched while the switches are off: no hook on the
    path of a normal call)."""
    import boto3

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    _wire(boto3.DEFAULT_SESSION.events)


def instrument(client):
    """The same, into one client already made."""
    _wire(client.meta.events, client.meta.service_model.service_id.hyphenize())
    return client


def _wire(events, only: str | None = None) -> None:
    """Register the switched-on faults on an event system (a session's, or one client's, which
    then hears only its own service's events)."""
    if fraction(THROTTLE) > 0:
        throttles = {service: _Throttle(service) for service in _THROTTLES if only in (None, service)}
        for service, throttle in throttles.items():
            events.register_first(f"before-send.{service}", throttle.before_send)
    if only in (None, "eventbridge"):
        duplicates = _Duplicates() if _int(DUPLICATES) > 0 else None
        if duplicates is not None:  # first to see the entries, last to see the answer
            events.register_first("provide-client-params.eventbridge.PutEvents", duplicates.remember)
        if fraction(PARTIAL_PUT) > 0:
            partial = _PartialPut()
            events.register("provide-client-params.eventbridge.PutEvents", partial.drop)
            events.register_first("before-send.eventbridge.PutEvents", partial.before_send)
            events.register("after-call.eventbridge.PutEvents", partial.splice)
        if duplicates is not None:
            events.register_last("after-call.eventbridge.PutEvents", duplicates.put_again)


class _Duplicates:
    """Each entry PutEvents accepted, put again DUPLICATES times through a client of its own (one
    that meets no fault): every consumer gets the event more than once, as at-least-once delivery
    allows at worst."""

    def __init__(self):
        self._client = None

    def remember(self, params, context, **_):
        context["fault_injection_entries"] = list(params.get("Entries") or [])

    def put_again(self, parsed, context, **_):
        entries = context.get("fault_injection_entries") or []
        accepted = [
            entry
            for entry, result in zip(entries, parsed.get("Entries") or [], strict=False)
            if not result.get("ErrorCode")
        ]
        if not accepted:
            return
        if self._client is None:
            import boto3

            self._client = boto3.session.Session().client("events")  # a session of its own: no hooks
        failed = 0
        for _copy in range(_int(DUPLICATES)):
            try:  # the call it follows succeeded: a failure here is the fault's, never the caller's
                failed += self._client.put_events(Entries=accepted).get("FailedEntryCount", 0)
            except Exception as error:
                failed += len(accepted)
                _log("fault injection: PutEvents entries not put again", reason=f"{type(error).__name__}: {error}")
        _log(
            "fault injected: PutEvents entries put again", entries=len(accepted), times=_int(DUPLICATES), failed=failed
        )


# Set on a request that a fault answered, and so was never sent (an in-process emulator that
# answers from the same hook, as moto does, must leave it alone).
INJECTED = "x-fault-injected"

_calls = itertools.count(1)  # the process's AWS calls, in order: a seeded draw's key


class _Throttle:
    """Answers a throttled call's attempts itself (before they are sent), counting them by the
    SDK's attempt header (`amz-sdk-request: attempt=2; max=3`)."""

    def __init__(self, service: str):
        self.service = service
        self.status, self.codes = _THROTTLES[service]
        self._bursts: dict[str, tuple[int, str]] = {}  # invocation id -> (attempts throttled, code)
        self._lock = threading.Lock()

    def before_send(self, request, event_name: str = "", **_):
        request.headers.pop(INJECTED, None)  # the same request object is sent again on a retry
        attempt, most = _attempt(request.headers.get("amz-sdk-request"))
        invocation = request.headers.get("amz-sdk-invocation-id", b"")
        invocation = invocation.decode() if isinstance(invocation, bytes) else str(invocation)
        with self._lock:
            if attempt == 1:
                draw = _seeded(f"{self.service}:{next(_calls)}")
                if draw.random() < fraction(THROTTLE):
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


def _attempt(header) -> tuple[int, int]:
    """(this attempt, the most the SDK makes), from `amz-sdk-request: attempt=2; max=3`."""
    text = header.decode() if isinstance(header, bytes) else str(header or "")
    fields = dict(part.strip().split("=", 1) for part in text.split(";") if "=" in part)
    try:
        return int(fields.get("attempt", 1)), int(fields.get("max", 3))
    except ValueError:
        return 1, 3


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
        failed = [i for i in range(len(entries)) if draw.random() < fraction(PARTIAL_PUT)]
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
