"""The benchmark runs end to end on a tiny input and reports every figure (no timing is
asserted: speed lives in the printed figures, never in a test that fails on a slow machine)."""

from __future__ import annotations

import json

import pytest

from bench.functions import HANDLERS
from tests.bench.conftest import RUN
from tests.e2e.conftest import ON_AWS


@pytest.mark.skipif(ON_AWS, reason="the benchmark runs on the local cloud")
def test_the_benchmark_reports_every_figure(bench_run):
    run = bench_run
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    for heading in (
        "1. Cold start",
        "2. Warm CPU per event",
        "3. End to end",
        "4. The bill of an order",
        "5. The floor",
    ):
        assert heading in run.stdout

    results = json.loads((RUN.folder / "results.json").read_text())
    functions = results["coldStart"]["functions"]
    assert {"Publisher", "OrdersApi", "OrderSaga"} <= set(functions)
    assert set(functions) == set(HANDLERS)  # every function, cold to its first answer
    assert all(
        0 < f["import"]["medianMs"] < f["firstAnswer"]["medianMs"] and f["ratio"] > 0 for f in functions.values()
    )
    # the libraries' floor beside the bare baseline, for each number of calls, and each function against it
    assert set(results["coldStart"]["libraries"]) == set(results["coldStart"]["baseline"])
    assert all(f["librariesRatio"] > 0 for f in functions.values())
    profile = results["coldStart"]["profile"]  # the slowest function's imports, by package
    # whichever is slowest on a loaded machine (the Publisher, which validates no model, can be):
    # its imports by package, the SDK and the platform's own code among them
    assert profile["function"] in HANDLERS and {"botocore", "common"} <= set(profile["importsByPackage"])
    assert "pydantic" not in profile["baselineImportsByPackage"] and "botocore" in profile["baselineImportsByPackage"]
    assert (
        functions["OrderSaga"]["calls"] >= 2 and functions["Publisher"]["calls"] == 1
    )  # its reads and appends; PutEvents
    assert set(results["warm"]) == {
        "OrdersProjection",
        "Email",
        "Analytics",
        "Audit",
        "OrderSaga",
        "Payments",
        "InventoryReservations",
    }
    end_to_end = results["endToEnd"]
    curve = end_to_end["loadCurve"]  # the steady rates, from locust's signed POSTs
    assert [row["rate"] for row in curve] == [1, 2]
    # about rate x seconds each (a buyer starts at a random point of its first second)
    assert curve[0]["orders"] >= 2 and curve[1]["orders"] >= 4 and all(row["errorRate"] == 0 for row in curve)
    assert all(0 < row["latencyMs"]["p50"] <= row["latencyMs"]["p99"] for row in curve)
    assert end_to_end["unloaded"]["orders"] == 3
    per_order = end_to_end["perOrder"]
    from bench.bill import SAGA_EVENTS

    # the happy path: seven events per order (the floor's, the shipment included), counted in the cloud
    assert per_order["eventBridgeEvents"] == len(SAGA_EVENTS) == 7
    assert per_order["emails"] == 2  # registered customers: placed and confirmed, really sent
    assert per_order["lambdaInvocations"] > 10 and per_order["dynamodbWriteUnits"] > 0
    assert per_order["logBytes"] > 0 and per_order["archivedBytes"] > 0
    assert all(f["cpuSeconds"] > 0 and f["wallSeconds"] > 0 for f in per_order["functions"].values())
    loaded = end_to_end["perOrderLoaded"]
    assert loaded["eventBridgeEvents"] == 7 and loaded["apiRequests"] == 1  # the same orders, sent together
    mixed = end_to_end["perOrderMixed"]
    assert mixed["outcomes"] == {"COMPLETED": 0, "CANCELLED": 4}  # 2 cancelled, 1 declined, 1 sold out
    bill = results["bill"]
    assert bill["platformHappy"] > bill["floorTotal"] > 0 and bill["ratioHappy"] > 1
    assert bill["platformLoaded"] > bill["floorTotal"]
    assert bill["happy"]["SES (emails sent)"] == 200.0  # 2 emails an order at $0.10 a thousand
    # cold starts: the INIT billed at the stated rate, and the bill at a tenth and ten times it
    assert bill["happy"]["Lambda INIT"] > 0 and [row["rate"] for row in bill["coldStarts"]] == [0.001, 0.01, 0.1]
    assert "cold starts (INIT, billed since 2025-08-01)" in run.stdout and "Lambda INIT" in run.stdout
    # the tracing options, each measured cold and warm, and what each sends
    options = results["tracing"]["options"]
    assert set(options) == {"xray-sdk", "opentelemetry", "active"} and "6. Tracing options" in run.stdout
    assert options["active"]["sentPerInvocation"] == {"segments": 0, "subsegments": 0, "spans": 0}
    assert (
        options["xray-sdk"]["sentPerInvocation"]["subsegments"] > 0
        and options["opentelemetry"]["sentPerInvocation"]["spans"] > 0
    )
