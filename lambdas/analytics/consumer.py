"""Lambda: every event counted once (a marker, folded into the per-day counters from its
stream), and into CloudWatch metrics (EMF)."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from analytics.counters import DailyCounters, increments
from catalog import Envelope
from common.consumer import EventConsumer
from common.observability import metrics
from common.settings import setting

_METRICS = {"usersRegistered": "UsersRegistered", "ordersPlaced": "OrdersPlaced",
            "ordersCancelled": "OrdersCancelled", "ordersCompleted": "OrdersCompleted"}


@cache
def counters() -> DailyCounters:
    return DailyCounters(markers_table=setting("ANALYTICS_EVENTS_TABLE_NAME"))


def count(event: Envelope) -> dict:
    result = counters().record(event)
    if result["outcome"] == "counted":
        deltas = increments(event)
        for field, metric in _METRICS.items():
            if field in deltas:
                metrics.add_metric(name=metric, unit=MetricUnit.Count, value=deltas[field])
        if "bookedRevenue" in deltas:
            metrics.add_metric(name="BookedRevenue", unit=MetricUnit.NoUnit, value=float(deltas["bookedRevenue"]))
    return result


# Exactly once by the marker's condition.
handler = EventConsumer(count, publishes_metrics=True).handler
