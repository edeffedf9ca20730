"""The day's counters are exact for any delivery the bus and the stream may make: every event
delivered one or more times, in any order, the markers' stream cut into any batches, any batch
retried (again and again, or with more records behind it, or after its run died before it
published its metrics), and any batch parked after its retries while the stream moves on, then
redriven. Money is counted in each currency apart, and the metrics published equal the counters."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.counters import Added, DailyCounters
from catalog import EventType, new_event
from catalog.payloads import OrderCreated, OrderItem
from tests.support import aws
from tests.support.properties import examples

EVENTS = 12
CURRENCIES = ("EUR", "USD", "SEK")


def order(n: int):
    price = Decimal(f"{n}.25")
    return new_event(
        EventType.ORDER_CREATED,
        aggregate_id=f"o-{n}",
        payload=OrderCreated(
            orderId=f"o-{n}",
            customerId="c",
            currency=CURRENCIES[n % 3],
            totalAmount=price,
            items=(OrderItem(productId="p", quantity=1, price=price),),
        ),
        version=1,
        user_id="c",
        correlation_id=f"corr-{n}",
    )


ALL = [order(n) for n in range(EVENTS)]
OK, RETRIED, DIED_UNPUBLISHED, PARKED = "ok", "retried", "died before publishing", "parked"


@st.composite
def deliveries(draw):
    """(the order events are delivered in, with duplicates; the stream's batch cuts; each batch's fate)"""
    delivered = draw(st.lists(st.integers(0, EVENTS - 1), min_size=1, max_size=3 * EVENTS))
    cuts = sorted(set(draw(st.lists(st.integers(1, 3 * EVENTS), max_size=6))))
    fates = draw(st.lists(st.sampled_from((OK, RETRIED, DIED_UNPUBLISHED, PARKED)), min_size=8, max_size=8))
    return delivered, cuts, fates


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries())
def test_the_days_counters_and_metrics_are_exact_for_any_delivery(case):
    delivered, cuts, fates = case
    with aws.moto():
        suffix = uuid.uuid4().hex[:8]
        counters_table, markers_table = f"counters-{suffix}", f"markers-{suffix}"
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=counters_table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        aws.create_analytics_events(markers_table)
        counters = DailyCounters(
            counters_table, markers_table, client=boto3.client("dynamodb", region_name="us-east-1")
        )
        published = Added()  # what the metrics said

        def run(batch, *, publishes: bool = True) -> None:
            """One run of the fold function over a batch: the counters, then the metrics."""
            result = counters.fold(batch)
            if publishes:
                published.merge(result.unpublished)
                counters.published(result.receipts)

        for n in delivered:  # the bus: at least once, in any order
            counters.record(ALL[n])
        stream = aws.stream_records(markers_table)
        assert len(stream) == len(set(delivered))  # one marker an event, however often delivered

        parked, start = [], 0
        for i, end in enumerate([c for c in cuts if c < len(stream)] + [len(stream)]):
            batch, fate = stream[start:end], fates[i % len(fates)]
            start = end
            if fate == RETRIED:  # a run that folded part of it (fewer records then), and its retry
                run(batch[: max(1, len(batch) // 2)], publishes=False)
            if fate == DIED_UNPUBLISHED:  # the counters took it; the run died before the metrics
                run(batch, publishes=False)
            if fate == PARKED:  # every attempt failed: parked, and the stream moves on
                parked.append(batch)
                continue
            run(batch)
        for batch in parked:  # the redrive, after the stream moved on
            run(batch)

        counted = {n: ALL[n] for n in set(delivered)}
        booked: dict[str, Decimal] = defaultdict(Decimal)
        for event in counted.values():
            booked[event.payload.currency] += event.payload.totalAmount
        day = counters.day(ALL[0].timestamp.date().isoformat())
        assert (day["events"], day["ordersPlaced"]) == (len(counted), len(counted))
        assert {code: figures["booked"] for code, figures in day["byCurrency"].items()} == {
            code: f"{amount:.2f}" for code, amount in booked.items()
        }
        [metrics] = published.days.values()  # one day
        assert metrics["ordersPlaced"] == len(counted)
        assert {name.partition(":")[2]: amount for name, amount in metrics.items() if name.startswith("booked:")} == (
            dict(booked)
        )
