"""Lambda: the analytics markers' stream into the per-day counters, a batch at a time."""

from __future__ import annotations

from functools import cache

from analytics.counters import DailyCounters
from common.observability import log_context, logger, tracer
from common.settings import setting


@cache
def counters() -> DailyCounters:
    return DailyCounters(setting("ANALYTICS_TABLE_NAME"))


@log_context
@tracer.capture_lambda_handler
def handler(event: dict, context) -> dict:
    # All or nothing: a failed fold raises, and the whole batch comes again (its folded part is
    # recognised by the counters' sequence numbers); after the retries it is parked.
    result = counters().fold(event.get("Records", []))
    logger.info("analytics batch folded", extra=result)
    return result
