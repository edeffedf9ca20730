"""The load curve: orders at steady arrival rates, rising step by step (an open model: locust,
bench/locustfile.py, in a process of its own), each order measured from the client's
POST /orders to its ORDER_COMPLETED in the event store.

    drive(api_url, env, tokens, sku, rates, step_seconds) -> the client's records
    curve(records, completed)                                -> one row per rate
    saturation(rows)                                         -> the highest rate kept up with

The absolute figures are this machine's (2 cores shared by the load generator, the local cloud
and every function); the shape of the curve and the rate where it bends are what carry over.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# A rate is kept up with while the orders completed in its step are at least this share of those
# sent, none failed, and its p95 is within BEND times the previous rate's (the knee: on a shared
# machine the latency climbs gently with the rate, then jumps once a backlog builds).
KEPT_UP = 0.9
BEND = 3.0


def drive(
    api_url: str, env: dict[str, str], tokens: list[str], sku: str, rates: list[int], step_seconds: float
) -> dict:
    """Run the steps, each order placed as one of the customers whose ID tokens these are;
    returns {"started", "rates", "stepSeconds", "orders": [{"sent", "postMs", "status",
    "orderId", "customer"}]} (times in epoch seconds, as the event store dates its events;
    `customer`: the index of the token it was placed with)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "orders.json"
        environment = {
            **os.environ,
            **env,
            "LOAD_RATES": ",".join(map(str, rates)),
            "LOAD_STEP_SECONDS": str(step_seconds),
            "LOAD_TOKENS": ",".join(tokens),
            "LOAD_SKU": sku,
            "LOAD_RECORDS": str(out),
        }
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--host",
                api_url,
                "--only-summary",
                "--loglevel",
                "ERROR",
                "--stop-timeout",
                "10",
            ],
            env=environment,
            capture_output=True,
            text=True,
            timeout=len(rates) * step_seconds + 180,
        )
        # locust exits 1 when a request failed: that is a figure of the curve, not a crash.
        if run.returncode not in (0, 1) or not out.exists():
            raise RuntimeError(f"locust failed ({run.returncode}): {run.stderr[-2000:]}")
        return json.loads(out.read_text())


def curve(records: dict, completed: dict[str, float]) -> list[dict]:
    """Per rate: what was sent and answered, the orders completed per second during the step
    (the throughput), the latency of the step's orders from POST to ORDER_COMPLETED, and the
    share of them that failed (an error answer, or never completed)."""
    rows = []
    seconds = records["stepSeconds"]
    done_at = sorted(completed.values())
    for i, rate in enumerate(records["rates"]):
        start = records["started"] + i * seconds
        end = start + seconds
        sent = [o for o in records["orders"] if start <= o["sent"] < end]
        finished = [o for o in sent if o["orderId"] in completed]
        latencies = sorted((completed[o["orderId"]] - o["sent"]) * 1000 for o in finished)
        rows.append(
            {
                "rate": rate,
                "sentPerSecond": round(len(sent) / seconds, 2),
                "completedPerSecond": round(sum(1 for t in done_at if start <= t < end) / seconds, 2),
                "orders": len(sent),
                "errorRate": round(1 - len(finished) / len(sent), 4) if sent else 0.0,
                "errors": {
                    str(status): sum(1 for o in sent if o["status"] == status)
                    for status in sorted({o["status"] for o in sent if not 200 <= o["status"] < 300})
                },
                "postP50Ms": round(statistics.median(o["postMs"] for o in sent), 1) if sent else None,
                "latencyMs": {f"p{q}": round(percentile(latencies, q), 1) for q in (50, 95, 99)} if latencies else None,
            }
        )
    return rows


def saturation(rows: list[dict]) -> int | None:
    """The highest rate whose completions kept up with what was sent, before the latency bent."""
    kept, previous = None, None
    for row in rows:
        keeps_up = row["sentPerSecond"] and row["completedPerSecond"] >= KEPT_UP * row["sentPerSecond"]
        bent = row["latencyMs"] is None or (previous is not None and row["latencyMs"]["p95"] > BEND * previous)
        if not keeps_up or bent or row["errorRate"] > 0:
            break
        kept, previous = row["rate"], row["latencyMs"]["p95"]
    return kept


def percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile of an ascending list (interpolated between ranks)."""
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]
