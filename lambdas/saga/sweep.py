"""Lambda, on a schedule: sagas that have waited on their steps for longer than
SAGA_TIMEOUT_SECONDS (counted from the first step) are timed out, which cancels the order and
compensates, so no order waits forever.

An operator (or a test) can sweep now with a shorter timeout: {"timeoutSeconds": 5}.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from common.observability import log_context, logger, tracer
from saga.handler import coordinator

DEFAULT_TIMEOUT_SECONDS = 300


class SweepFailed(RuntimeError):
    pass


@log_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    requested = (event or {}).get("timeoutSeconds")  # absent on the schedule's own events
    timeout = int(requested if requested is not None else os.environ.get("SAGA_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=timeout)
    saga = coordinator()
    overdue = saga.overdue(cutoff)
    results, failures = [], []
    for order_id in overdue:
        try:
            results.append(saga.time_out(order_id))
        except Exception as error:  # noqa: BLE001 - one stuck saga must not keep the others waiting
            logger.exception("saga timeout failed", extra={"orderId": order_id})
            failures.append(f"{order_id}: {error}")
    logger.info("saga sweep", extra={"timeoutSeconds": timeout, "overdue": len(overdue), "failed": len(failures)})
    if failures:
        raise SweepFailed(f"{len(failures)} of {len(overdue)} timeouts failed: {'; '.join(failures)[:500]}")
    return {"timeoutSeconds": timeout, "timedOut": [r["orderId"] for r in results if r["outcome"] == "moved"]}
