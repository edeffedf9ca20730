"""Lambda: the analytics markers' stream into the per-day counters, and into CloudWatch metrics
(EMF), a batch at a time."""

from decimal import Decimal
from functools import cache

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from analytics.counters import DailyCounters
from common.observability import log_context, logger, traced_handler
from common.settings import FunctionSettings, ReadWriteTable

# Counter -> metric. Emitted from what a fold adds, so they count each event once, like the
# counters (a redelivered or replayed event adds nothing), in one EMF record a batch.
METRICS = {
    "usersRegistered": ("UsersRegistered", MetricUnit.Count),
    "ordersPlaced": ("OrdersPlaced", MetricUnit.Count),
    "ordersCancelled": ("OrdersCancelled", MetricUnit.Count),
    "ordersCompleted": ("OrdersCompleted", MetricUnit.Count),
    "bookedRevenue": ("BookedRevenue", MetricUnit.NoUnit),
}


metrics = Metrics(namespace="OrderPlatform")  # the only function that publishes custom metrics


class Settings(FunctionSettings):
    analytics_table_name: ReadWriteTable


@cache
def counters() -> DailyCounters:
    return DailyCounters(Settings.current().analytics_table_name)


def publish_metrics(added: dict[str, Decimal]) -> list[str]:
    """One EMF record of what the batch added; none when it added nothing a metric counts."""
    published = []
    for counter, (name, unit) in METRICS.items():
        if added.get(counter):
            metrics.add_metric(name=name, unit=unit, value=float(added[counter]))
            published.append(name)
    if published:
        metrics.flush_metrics()
    return published


@log_context
@traced_handler
def handler(event: dict, context) -> dict:
    # All or nothing: a failed fold raises, and the whole batch comes again (its folded part is
    # recognised by the counters' sequence numbers); after the retries it is parked. Metrics are
    # published after the counters took the batch: a fold that fails publishes none.
    result = counters().fold(event.get("Records", []))
    summary = {
        "folded": result["folded"],
        "alreadyFolded": result["alreadyFolded"],
        "metrics": publish_metrics(result["added"]),
    }
    logger.info("analytics batch folded", extra=summary)
    return summary
