"""Lambda, on a schedule: orders still pending the stage's saga timeout after they were placed are
timed out, which cancels them and compensates what was done, so no order waits forever.

The pending orders are the read model's sparse `pending` index: an order enters it when it is
placed and leaves it when it completes or is cancelled, so the sweep reads only those.
An operator (or a test) can sweep now with a shorter timeout: {"timeoutSeconds": 5}.
"""

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated

from common import clients
from common.observability import log_context, logger
from common.settings import FromStage, FunctionSettings, ReadTable, ReadWriteTable
from common.tracing import traced_handler
from eventstore.store import EventStore
from saga.coordinator import SagaCoordinator

PENDING_INDEX = "pending"


class SweepFailed(RuntimeError):
    pass


class Settings(FunctionSettings):
    orders_table_name: ReadTable
    event_store_table_name: ReadWriteTable
    saga_timeout_seconds: Annotated[int, FromStage()]


@cache
def coordinator() -> SagaCoordinator:
    return SagaCoordinator(EventStore(Settings.current().event_store_table_name))


@cache
def _dynamodb():
    return clients.client("dynamodb")


def pending_since_before(cutoff: datetime) -> list[str]:
    """Order ids of orders pending since before cutoff."""
    pages = (
        _dynamodb()
        .get_paginator("scan")
        .paginate(
            TableName=Settings.current().orders_table_name,
            IndexName=PENDING_INDEX,
            FilterExpression="pendingSince < :cutoff",
            ExpressionAttributeValues={":cutoff": {"S": cutoff.isoformat()}},
        )
    )
    return [item["orderId"]["S"] for page in pages for item in page["Items"]]


@log_context
@traced_handler
def handler(event: dict, context) -> dict:
    requested = (event or {}).get("timeoutSeconds")  # absent on the schedule's own events
    timeout = int(requested if requested is not None else Settings.current().saga_timeout_seconds)
    cutoff = datetime.now(UTC) - timedelta(seconds=timeout)
    saga = coordinator()
    overdue = pending_since_before(cutoff)
    results, failures = [], []
    for order_id in overdue:
        try:
            results.append(saga.time_out(order_id))
        except Exception as error:
            logger.exception("saga timeout failed", extra={"orderId": order_id})
            failures.append(f"{order_id}: {error}")
    logger.info("saga sweep", extra={"timeoutSeconds": timeout, "overdue": len(overdue), "failed": len(failures)})
    if failures:
        raise SweepFailed(f"{len(failures)} of {len(overdue)} timeouts failed: {'; '.join(failures)[:500]}")
    return {"timeoutSeconds": timeout, "timedOut": [r["orderId"] for r in results if r["outcome"] == "moved"]}
