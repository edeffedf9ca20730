"""The bill's INIT line and its SnapStart alternative, on counts small enough to price by hand."""

from __future__ import annotations

import json

import pytest

from bench import ROOT, bill

PRICES = json.loads((ROOT / "bench" / "prices.json").read_text())
GB_SECOND = PRICES["lambda"]["gbSecond"]["arm64"]


def per_order(**functions: tuple[float, int]) -> dict:
    """Counts of one order: for each function, (invocations, memory MB), arm64."""
    return {
        "apiRequests": 1,
        "lambdaInvocations": sum(n for n, _ in functions.values()),
        "eventBridgeEvents": 1,
        "archivedBytes": 0,
        "dynamodbWriteUnits": 0,
        "dynamodbReadUnits": 0,
        "sqsRequests": 0,
        "logBytes": 0,
        "emails": 0,
        "functions": {
            name: {"invocations": n, "memoryMb": mb, "arm64": True, "cpuSeconds": 0.0, "wallSeconds": 0.0}
            for name, (n, mb) in functions.items()
        },
    }


def test_each_cold_start_bills_its_function_init_at_its_memory():
    counts = per_order(Saga=(4, 1024), Audit=(10, 512))
    init = {"Saga": 0.2, "Audit": 0.1}
    expected = 0.01 * (4 * 0.2005 * 1.0 + 10 * 0.1005 * 0.5) * GB_SECOND * bill.MILLION
    assert bill.bill(counts, PRICES, init=init, cold_start_rate=0.01)["Lambda INIT"] == pytest.approx(expected)
    at_ten = bill.bill(counts, PRICES, init=init, cold_start_rate=0.1)["Lambda INIT"]
    assert at_ten == pytest.approx(10 * expected)
    assert "Lambda INIT" not in bill.bill(counts, PRICES)  # without measured inits, no line (a bill of old counts)


def test_a_function_without_a_measured_init_is_an_error_not_a_free_init():
    with pytest.raises(KeyError, match="Loyalty: no init duration measured"):
        bill.bill(per_order(Saga=(1, 1024), Loyalty=(1, 256)), PRICES, init={"Saga": 0.2})


def test_the_init_throttled_to_the_cpu_share_is_the_bound_above_it():
    counts, init = per_order(Audit=(10, 256)), {"Audit": 0.1}
    free, throttled = (bill.lambda_init(counts, init, PRICES, 0.01, throttled=t)[0] for t in (False, True))
    share = 256 / PRICES["lambda"]["fullVcpuAtMb"]
    assert throttled == pytest.approx(0.01 * 10 * (0.1 / share + 0.0005) * 0.25) and throttled > free


def test_a_snapstart_restore_costs_what_the_init_saves_only_at_the_break_even_init():
    counts = per_order(Saga=(1, 1024))
    seconds = bill.snapstart_break_even_seconds(PRICES)
    restores, cache = bill.snapstart(counts, PRICES, 1.0)
    assert restores == pytest.approx(bill.lambda_init(counts, {"Saga": seconds - 0.0005}, PRICES, 1.0)[1])
    assert seconds > 10  # longer than an INIT may last: a restore never costs less here
    assert cache == pytest.approx(30 * 24 * 3600 * PRICES["lambda"]["snapStart"]["cachePerGbSecond"])


def test_the_floor_counts_the_init_of_its_hops_at_the_rate():
    counts = per_order(Saga=(1, 1024))
    lines = {line.service: line for line in bill.floor(counts, PRICES, 0.138, 0.01)}
    hops = lines["Lambda requests"].count
    assert lines["Lambda INIT"].count == pytest.approx(0.01 * hops * 0.138 * 128 / 1024)
    assert "Lambda INIT" not in {line.service for line in bill.floor(counts, PRICES)}
