"""The reliability suite, small: every scenario of `make chaos` with a few orders each, on a
local cloud of its own, and the audit's verdict. `make chaos` runs 1,000 orders per scenario."""

from __future__ import annotations

import json
import os

import pytest

from chaos.corpus import api_cases, bus_cases, stream_cases
from chaos.scenarios import SCENARIOS
from tests.chaos.conftest import RUNS, SEED

REDRIVEN = {"transient", "throttling", "partial-put", "timeouts", "stale"}  # a second row: after the redrive

LOCAL_ONLY = pytest.mark.skipif(
    os.environ.get("E2E_TARGET") == "aws", reason="injects faults and restarts the local cloud"
)


@pytest.fixture(scope="module")
def chaos_run():
    """The small run's shards (`python -m chaos --scenarios ...`, each on a local cloud of its
    own), started when the session collected this module (tests/chaos/conftest.py), finished:
    each one's exit code and output, and its rows."""
    finished = []
    for run in RUNS:
        result = run.finished(timeout=2400)
        print(run.name, result.stdout[-6000:], result.stderr[-3000:])
        rows = run.folder / "rows.json"
        assert rows.exists(), result.stderr[-3000:]
        finished.append((result, json.loads(rows.read_text())))
    return finished


@pytest.mark.e2e
@LOCAL_ONLY
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_scenario_accounts_for_every_event(chaos_run, scenario):
    mine = [row for _, rows in chaos_run for row in rows if row["name"] == scenario]
    assert len(mine) == (2 if scenario in REDRIVEN else 1), [r["scenario"] for r in mine]
    for row in mine:
        assert row["lost"] == 0, row["details"]
        assert row["duplicated"] == 0, row["details"]
        assert all(row["checks"].values()), (row["checks"], row["details"], row["parked_by"], row["reasons"])
        assert row["events"] == row["processed"] + row["parked"], row


@pytest.mark.e2e
@LOCAL_ONLY
def test_the_run_prints_the_table_and_exits_nonzero_only_when_a_row_failed(chaos_run):
    assert len(chaos_run) == len(RUNS) >= 1
    for result, rows in chaos_run:
        failed = [row for row in rows if row["lost"] or row["duplicated"] or not all(row["checks"].values())]
        assert result.returncode == (1 if failed else 0), result.stderr[-3000:]
        assert "| scenario" in result.stdout and "lost" in result.stdout
        assert f"seed {SEED} (replay with --seed {SEED})" in result.stdout
        for row in rows:
            assert row["scenario"] in result.stdout


# ---- the audit's own arithmetic ------------------------------------------------------------


def test_the_bad_input_corpus_has_at_least_fifty_cases_of_each_kind_it_names():
    cases = api_cases("SKU-1", "cust-1", "order-1") + bus_cases("bus", "p-") + stream_cases("p-")
    assert len(cases) >= 50
    assert len(api_cases("SKU-1", "cust-1", "order-1")) >= 30
    assert len({c.name for c in cases}) == len(cases)


def test_the_saga_is_held_to_each_event_not_to_the_whole_order():
    """An order whose PAYMENT_PROCESSED never reached the saga: that event is not done, but its
    ORDER_CREATED (answered with PAYMENT_REQUESTED) is."""
    from decimal import Decimal

    from catalog import EventType, new_event
    from catalog.payloads import PaymentProcessed, PaymentRequested
    from chaos.audit import _saga_done
    from tests.support import orders

    created = orders.created()
    asked = new_event(
        EventType.PAYMENT_REQUESTED,
        aggregate_id="saga:order-1",
        version=1,
        user_id="order-saga",
        correlation_id="corr-1",
        payload=PaymentRequested(currency="EUR", orderId="order-1", customerId="cust-1", amount=Decimal("44.98")),
    )
    paid = new_event(
        EventType.PAYMENT_PROCESSED,
        aggregate_id="payment:order-1",
        version=1,
        user_id="payments",
        correlation_id="corr-1",
        payload=PaymentProcessed(currency="EUR", orderId="order-1", paymentId="p", amount=Decimal("44.98")),
    )

    def stored(*envelopes):
        return [
            {
                "eventId": str(e.eventId),
                "eventType": e.eventType,
                "aggregateId": e.aggregateId,
                "version": e.version,
                "detail": json.loads(e.to_json()),
            }
            for e in envelopes
        ]

    done = _saga_done(stored(created, asked, paid), [])
    assert str(created.eventId) in done
    assert str(paid.eventId) not in done  # INVENTORY_RESERVATION_REQUESTED is still due


@pytest.mark.e2e
@LOCAL_ONLY
def test_every_days_metrics_equal_its_counters_at_the_end_of_each_run(chaos_run):
    for _, rows in chaos_run:
        [books] = [row for row in rows if row["name"] == "books"]
        assert books["checks"] and all(books["checks"].values()), (books["checks"], books["details"])
