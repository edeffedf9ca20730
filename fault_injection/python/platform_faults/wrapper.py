"""The handler of a function deployed with the fault-injection layer: the function's own handler
(FAULT_INJECTION_HANDLER, which the stacks set beside the layer), with the switches' faults
around it. Nothing of this is in the function's code asset (lambdas/), and prod deploys neither
the layer nor the switches (tests/infra/test_stacks.py).

Around each invocation, as the function itself would meet them:
- every event of the switched types fails (EVENT_TYPES), before the work;
- a fraction of invocations fail (RATE), half before the work and half after its effects (a
  crash between an effect and the record of it), or hang to the timeout there (TIMEOUT);
- a stream batch is handed over newest first (REORDER: out-of-order delivery, worst case);
- the SDK meets throttles, PutEvents failing some entries, and each accepted entry put again
  (platform_faults.sdk, installed before the function's module makes its first client).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from platform_faults import sdk
from platform_faults.switches import (
    AFTER,
    BEFORE,
    EVENT_TYPES,
    HANDLER,
    RATE,
    fail_at,
    fail_for_type,
    random_failure_point,
    reorder,
    setting,
)

Handler = Callable[[Any, Any], Any]


def wrap(handler: Handler) -> Handler:
    """The handler, with the switches' faults around each invocation."""

    def faulted(event: Any, context: Any) -> Any:
        key, event_types = about(event) if setting(EVENT_TYPES) or setting(RATE) else ("", [])
        for event_type in event_types:
            fail_for_type(event_type)
        if reorder() and isinstance(event, dict) and event.get("Records"):
            event = {**event, "Records": list(reversed(event["Records"]))}
        point = random_failure_point(key)
        fail_at(point, BEFORE)
        result = handler(event, context)
        fail_at(point, AFTER, context)  # the effects done, the answer not yet given
        return result

    return faulted


def about(event: Any) -> tuple[str, list[str]]:
    """(what an invocation works on, the key of its seeded draws; the event types it carries).
    A bus event: its stream, type and version. A stream batch: its first record, and the event
    types its items hold (an event-store item's type; the analytics markers' counted types).
    Whatever shape the event has, this never raises: the function's own handler answers it."""
    try:
        return _about(event)
    except (AttributeError, TypeError, KeyError):
        return "", []


def _about(event: Any) -> tuple[str, list[str]]:
    if not isinstance(event, dict):
        return "", []
    detail = event.get("detail")
    if isinstance(detail, dict):
        metadata = detail.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        key = f"{detail.get('aggregateId')}:{detail.get('eventType')}:{metadata.get('version')}"
        return key, [str(detail.get("eventType"))]
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        return "", []
    types: list[str] = []
    for record in records:
        image = (record.get("dynamodb") or {}).get("NewImage") or {}
        if "S" in (image.get("eventType") or {}):
            types.append(image["eventType"]["S"])
        types += [
            name.removeprefix("count_")
            for name in (image.get("deltas") or {}).get("M", {})
            if name.startswith("count_")
        ]
    return str(records[0].get("eventID", "")), types


def _the_function() -> Handler:
    sdk.install()  # before the function's module makes its first client
    module, _, name = os.environ[HANDLER].rpartition(".")
    if not module:
        raise RuntimeError(f"{HANDLER}={os.environ[HANDLER]!r} is not module.function: the stack sets it")
    return getattr(importlib.import_module(module), name)


handler: Handler | None
if os.environ.get(HANDLER):
    handler = wrap(_the_function())
elif os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # in a function: the stack forgot its own handler
    raise RuntimeError(f"the fault-injection wrapper runs a function's own handler, named by {HANDLER}: unset")
else:  # imported by a tool or a test, which wraps a handler itself
    handler = None
