"""The capacity model's arithmetic, on counts chosen so the answer is known."""

from __future__ import annotations

import pytest

from bench import capacity


def per_order(saga_ms: float = 100.0) -> dict:
    def function(invocations: float, ms: float) -> dict:
        # 1,769 MB: a full vCPU, so the billed duration is the CPU time itself
        return {
            "invocations": invocations,
            "cpuSeconds": invocations * ms / 1000,
            "wallSeconds": invocations * ms / 1000,
            "queuedSeconds": 0.0,
            "memoryMb": 1769,
            "arm64": True,
        }

    return {
        "apiRequests": 1.0,
        "eventBridgeEvents": 6.0,
        "emails": 2.0,
        "functions": {
            "OrdersApi": function(1, 10),
            "OrderSaga": function(3, saga_ms),
            "Audit": function(6, 10),
            "Publisher": function(6, 10),
        },
        "writeUnitsByTable": {"EventStore": 7.0, "AnalyticsEvents": 6.0, "Inventory": 2.0},
    }


def test_concurrency_is_rate_times_duration_and_leaves_the_stream_readers_to_their_shards():
    figures = capacity.concurrency(per_order())
    assert figures == pytest.approx({"OrdersApi": 0.01, "OrderSaga": 0.3, "Audit": 0.06})
    assert capacity.stream_concurrency(per_order(), 1000) == {"Publisher": 7, "AnalyticsFold": 6}


def test_the_first_limit_is_the_resource_whose_quota_the_fewest_orders_reach():
    demands = {d.resource: d for d in capacity.demands(per_order())}
    # target invocations: the consumers' (OrderSaga 3 + Audit 6) = 9 an order, 18,750 a second
    assert demands["EventBridge target invocations"].max_rate == pytest.approx(18750 / 9)
    assert demands["Lambda concurrency"].max_rate == pytest.approx(1000 / 0.37)
    slow = {d.resource: d for d in capacity.demands(per_order(saga_ms=1000))}
    assert min(slow.values(), key=lambda d: d.max_rate).resource == "Lambda concurrency"
    assert min(demands.values(), key=lambda d: d.max_rate).resource == "EventBridge target invocations"


def test_a_shared_key_grows_with_the_rate_and_a_per_order_key_does_not():
    rows = {
        table: (on_key, on_item) for table, _, on_key, on_item, _ in capacity.busiest_keys(per_order(), 1000, lanes=8)
    }
    assert rows["EventStore"] == (7.0, 1.0)  # one order's stream, whatever the rate; each event written once
    grows: tuple[object, float] = (pytest.approx(6000 / 8), 1.0)  # approx is no float, but compares as one
    assert rows["AnalyticsEvents"] == grows  # a lane's key grows; a marker does not
    assert rows["Inventory"] == (2000, 2000)  # one product's item, every order of it


def test_the_reservations_file_is_the_models_figures_from_the_benchmark_in_docs():
    """infra/concurrency.json (what the stacks reserve) is what `make capacity` derives from the
    benchmark results the docs show: it cannot drift from them unnoticed."""
    import json

    results = json.loads((capacity.DOCS / "performance" / "results.json").read_text())
    written = json.loads(capacity.CONCURRENCY_FILE.read_text())
    assert written == capacity.reservations(results)
    assert set(written["perOrderPerSecond"]) == set(capacity.CONSUMER_NAMES)
