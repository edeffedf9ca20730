"""The load curve's arithmetic, on client records chosen so the answer is known."""

from __future__ import annotations

from bench import load


def records(rates: list[int], seconds: float = 10.0, failed_at: int | None = None) -> dict:
    """rate orders a second in each step, sent evenly; each order answered 201 unless it is the
    first order of step `failed_at`."""
    orders = []
    for step, rate in enumerate(rates):
        for n in range(int(rate * seconds)):
            failed = step == failed_at and n == 0
            orders.append(
                {
                    "sent": 1000.0 + step * seconds + n / rate,
                    "postMs": 10.0,
                    "status": 503 if failed else 201,
                    "orderId": None if failed else f"o-{step}-{n}",
                }
            )
    return {"started": 1000.0, "rates": rates, "stepSeconds": seconds, "orders": orders}


def completed_after(run: dict, seconds_for) -> dict[str, float]:
    return {o["orderId"]: o["sent"] + seconds_for(o) for o in run["orders"] if o["orderId"]}


def test_each_step_reports_what_was_sent_what_completed_and_how_long_it_took():
    run = records([1, 2])
    rows = load.curve(run, completed_after(run, lambda o: 1.5))
    assert [(r["rate"], r["orders"], r["sentPerSecond"]) for r in rows] == [(1, 10, 1.0), (2, 20, 2.0)]
    assert all(r["latencyMs"]["p50"] == r["latencyMs"]["p99"] == 1500.0 and r["errorRate"] == 0 for r in rows)
    # throughput is what completes during the step: the first step's last order completes in the
    # second, and the second's last three after it
    assert (rows[0]["completedPerSecond"], rows[1]["completedPerSecond"]) == (0.9, 1.8)


def test_an_error_answer_and_an_order_never_completed_are_both_errors():
    run = records([1, 1], failed_at=1)
    completed = completed_after(run, lambda o: 0.1)
    del completed["o-1-5"]  # accepted, never completed
    rows = load.curve(run, completed)
    assert rows[0]["errorRate"] == 0 and rows[1]["errorRate"] == 0.2 and rows[1]["errors"] == {"503": 1}


def test_saturation_is_the_last_rate_kept_up_with_before_the_latency_jumps():
    run = records([1, 2, 4, 8])
    # flat to 4 orders a second; at 8 each order waits behind a growing backlog
    rows = load.curve(run, completed_after(run, lambda o: 0.2 if o["sent"] < 1030 else 0.2 + (o["sent"] - 1030)))
    assert [r["latencyMs"]["p95"] for r in rows][:3] == [200.0, 200.0, 200.0]
    assert load.saturation(rows) == 4
    assert load.saturation(load.curve(run, completed_after(run, lambda o: 0.2))) == 8
