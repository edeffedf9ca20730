"""The day's counters are exact for any delivery the bus and the stream may make: every event
delivered one or more times, in any order, the markers' stream cut into any batches, and any
batch retried (again and again, or with more records behind it) before the stream moves on."""

from __future__ import annotations

import uuid
from decimal import Decimal

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from analytics.counters import DailyCounters, increments
from catalog import EventType, new_event
from catalog.payloads import OrderCreated, OrderItem
from tests.support import aws

EVENTS = 12


def order(n: int):
    return new_event(EventType.ORDER_CREATED, aggregate_id=f"o-{n}",
                     payload=OrderCreated(orderId=f"o-{n}", customerId="c", currency="EUR", totalAmount=Decimal(f"{n}.25"),
                                          items=[OrderItem(productId="p", quantity=1, price=Decimal(f"{n}.25"))]),
                     version=1, user_id="c", correlation_id=f"corr-{n}")


ALL = [order(n) for n in range(EVENTS)]


@st.composite
def deliveries(draw):
    """(the order events are delivered in, with duplicates; the stream's batch cuts; the retries)"""
    delivered = draw(st.lists(st.integers(0, EVENTS - 1), min_size=1, max_size=3 * EVENTS))
    cuts = sorted(set(draw(st.lists(st.integers(1, 3 * EVENTS), max_size=6))))
    retries = draw(st.lists(st.integers(0, 2), min_size=8, max_size=8))
    return delivered, cuts, retries


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries())
def test_the_days_counters_are_exact_for_any_delivery(case):
    delivered, cuts, retries = case
    with mock_aws():
        suffix = uuid.uuid4().hex[:8]
        counters_table, markers_table = f"counters-{suffix}", f"markers-{suffix}"
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName=counters_table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        aws.create_analytics_events(markers_table)
        counters = DailyCounters(counters_table, markers_table, client=boto3.client("dynamodb", region_name="us-east-1"))

        for n in delivered:  # the bus: at least once, in any order
            counters.record(ALL[n])
        stream = aws.stream_records(markers_table)
        assert len(stream) == len(set(delivered))  # one marker an event, however often delivered

        start = 0
        for i, end in enumerate([c for c in cuts if c < len(stream)] + [len(stream)]):
            batch = stream[start:end]
            for _ in range(retries[i % len(retries)]):  # a failed run of the batch, or a retry that overlaps
                counters.fold(batch[: max(1, len(batch) // 2)])
            counters.fold(batch)
            start = end

        expected = {"events": len(set(delivered)), "ordersPlaced": len(set(delivered)),
                    "bookedRevenue": f"{sum(increments(ALL[n])['bookedRevenue'] for n in set(delivered)):.2f}"}
        day = counters.day(ALL[0].timestamp.date().isoformat())
        assert {k: day[k] for k in expected} == expected
