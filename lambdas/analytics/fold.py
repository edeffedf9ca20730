"""Lambda: the analytics markers' stream into the per-day counters, and into CloudWatch metrics
(EMF), a batch at a time, each event once in both."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from analytics.counters import COUNTS, MONEY, Added, DailyCounters
from common.observability import log_context, logger
from common.settings import FunctionSettings, ReadWriteTable
from common.tracing import traced_handler

# Counter -> metric. The counts have no dimension but the service; money has its currency.
COUNT_METRICS = {
    "usersRegistered": "UsersRegistered",
    "ordersPlaced": "OrdersPlaced",
    "ordersCancelled": "OrdersCancelled",
    "ordersCompleted": "OrdersCompleted",
}
MONEY_METRICS = {"booked": "Booked", "cancelled": "BookingsCancelled", "captured": "Captured", "refunded": "Refunded"}
assert set(COUNT_METRICS) == set(COUNTS.values()) and set(MONEY_METRICS) == set(MONEY)
# CloudWatch takes a metric's data point up to two weeks old: an event older than that (a replay
# of one never counted) is in the counters, and is no metric.
OLDEST_METRIC = timedelta(days=14) - timedelta(hours=1)

metrics = Metrics(namespace="OrderPlatform")  # the only function that publishes custom metrics


class Settings(FunctionSettings):
    analytics_table_name: ReadWriteTable


@cache
def counters() -> DailyCounters:
    return DailyCounters(Settings.current().analytics_table_name)


def publish_metrics(added: Added) -> list[str]:
    """One EMF record a day and dimension of what was added, stamped with the latest event time
    of that day it holds (the metrics fall in the day the events happened)."""
    published: list[str] = []
    oldest = datetime.now(UTC) - OLDEST_METRIC
    for day, sums in sorted(added.days.items()):
        at = added.latest[day]
        if at < oldest:
            logger.warning("counted, too old for a metric", extra={"day": day})
            continue
        records: dict[str | None, list[tuple[str, Decimal]]] = {}
        for counter, name in COUNT_METRICS.items():
            if sums.get(counter):
                records.setdefault(None, []).append((name, sums[counter]))
        for counter, value in sums.items():
            kind, _, code = counter.partition(":")
            if kind in MONEY_METRICS and value:
                records.setdefault(code, []).append((MONEY_METRICS[kind], value))
        for currency, points in records.items():
            if currency is not None:
                metrics.add_dimension(name="Currency", value=currency)
            for name, value in points:
                unit = MetricUnit.Count if currency is None else MetricUnit.NoUnit
                metrics.add_metric(name=name, unit=unit, value=float(value))
                published.append(name if currency is None else f"{name}:{currency}")
            metrics.set_timestamp(at)
            metrics.flush_metrics()
    return published


@log_context
@traced_handler
def handler(event: dict, context) -> dict:
    records = event.get("Records", [])
    # All or nothing a batch: a failed fold raises, adding nothing, and the batch comes again; after
    # its retries it is parked, and its redrive adds what it had not (its receipt says how far it
    # got). The metrics go out once the counters hold what they count, and their receipts then say
    # so: a run that dies between the two leaves them to the batch's next attempt.
    result = counters().fold(records)
    published = publish_metrics(result.unpublished)
    try:
        counters().published(result.receipts)
    except Exception:  # the metrics are out: a retry of the batch would publish them again
        logger.exception("metrics published, their receipts not marked", extra={"receipts": result.receipts})
    summary = {"folded": result.folded, "alreadyFolded": result.already, "metrics": published}
    logger.info("analytics batch folded", extra=summary)
    return summary
