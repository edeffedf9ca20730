"""End to end on the local cloud: a batch of orders through the whole flow (API -> store ->
bus -> consumers -> saga -> completed), with the throughput, the latency of each order from
POST /orders to ORDER_COMPLETED, and every billable request the batch caused (counted by
localcloud/meter.py inside the cloud)."""

from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import boto3

from localcloud import meter
from localcloud.api import Api
from localcloud.cloud import LocalCloud, free_port

SKU = "BENCH-SKU"
WARM_UP = 3


def _completed(client, table: str) -> int:
    """How many orders the read model shows completed (a Scan: the system itself never scans,
    so the meter can leave these out)."""
    pages = client.get_paginator("scan").paginate(
        TableName=table, Select="COUNT", FilterExpression="#s = :c",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":c": {"S": "COMPLETED"}})
    return sum(page["Count"] for page in pages)


def _wait_for(client, table: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _completed(client, table) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not every order completed within {timeout:.0f}s")
        time.sleep(0.5)


def _settled_meter(path: str) -> dict:
    """The meter once it stops moving (trailing consumers done)."""
    previous, stable = None, 0
    while stable < 3:
        time.sleep(0.6)
        current = meter.read(path)
        stable = stable + 1 if current == previous else 0
        previous = current
    return previous or {}


def run(orders: int, *, workers: int = 8, metered: int = 20, timeout: float = 900) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        meter_file = str(Path(tmp) / "meter.json")
        cloud = LocalCloud(port=free_port(), state_dir=Path(tmp) / "cloud", server_env={"LOCAL_CLOUD_METER": meter_file})
        cloud.start()
        try:
            outputs = cloud.deploy(quiet=True)
            env = cloud.aws_env()
            api = Api(outputs.api_url, env)
            dynamodb = boto3.client("dynamodb", endpoint_url=cloud.endpoint, region_name="us-east-1",
                                    aws_access_key_id="test", aws_secret_access_key="test")
            api("PUT", f"/inventory/{SKU}", {"quantity": (orders + WARM_UP) * 10})
            body = {"customerId": "bench", "items": [{"productId": SKU, "quantity": 1, "price": "9.99"}]}
            # Warm every function first: the figures are for a running system, not for cold starts.
            for _ in range(WARM_UP):
                api("POST", "/orders", body)
            done = WARM_UP
            _wait_for(dynamodb, outputs["OrdersTableName"], done, timeout)

            # 1. One order at a time, metered: what an order costs, and its latency unloaded
            # (under load the local durations would also count waiting for a free worker).
            before = _settled_meter(meter_file)
            sequential = []
            for _ in range(metered):
                sequential.append(api("POST", "/orders", body)["orderId"])
                done += 1
                _wait_for(dynamodb, outputs["OrdersTableName"], done, timeout)
            after = _settled_meter(meter_file)

            # 2. The batch, from concurrent clients: throughput and latency under load.
            started = time.monotonic()
            with ThreadPoolExecutor(workers) as pool:
                order_ids = [r["orderId"] for r in pool.map(lambda _: api("POST", "/orders", body), range(orders))]
            _wait_for(dynamodb, outputs["OrdersTableName"], done + orders, timeout)
            wall = time.monotonic() - started
            loaded, created, completed = _latencies(api, order_ids)
            unloaded, _, _ = _latencies(api, sequential)
        finally:
            cloud.stop()

    return {
        "orders": orders,
        "clientWorkers": workers,
        "wallSeconds": round(wall, 2),
        "ordersPerSecond": round(orders / (max(completed) - min(created)), 2),
        "latencyMs": _summary(loaded),
        "latenciesMs": [round(x, 1) for x in loaded],
        "unloaded": {"orders": metered, "latencyMs": _summary(unloaded)},
        "perOrder": per_order(before, after, metered),
    }


def _latencies(api: Api, order_ids: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Each order's time from ORDER_CREATED to ORDER_COMPLETED, as the event store dates them."""
    latencies, created, completed = [], [], []
    for order_id in order_ids:
        events = {e["eventType"]: _time(e["timestamp"]) for e in api("GET", f"/orders/{order_id}/events")["events"]}
        created.append(events["ORDER_CREATED"])
        completed.append(events["ORDER_COMPLETED"])
        latencies.append((events["ORDER_COMPLETED"] - events["ORDER_CREATED"]) * 1000)
    return sorted(latencies), created, completed


def _summary(latencies: list[float]) -> dict[str, float]:
    return {"p50": round(_percentile(latencies, 50), 1), "p95": round(_percentile(latencies, 95), 1),
            "max": round(latencies[-1], 1)}


def per_order(before: dict, after: dict, orders: int) -> dict:
    """Billable requests per order, from the meter's counts over the batch."""
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    reads = sum(v for k, v in delta.items() if k.startswith("dynamodb.read_units.") and not k.endswith(".Scan"))
    return {
        "apiRequests": 1.0,
        "lambdaInvocations": delta.get("lambda.invocations", 0) / orders,
        "lambdaGbSeconds": delta.get("lambda.gb_seconds", 0) / orders,
        "eventBridgeEvents": delta.get("events.entries", 0) / orders,
        "dynamodbWriteUnits": delta.get("dynamodb.write_units", 0) / orders,
        "dynamodbReadUnits": reads / orders,
        "sqsRequests": delta.get("sqs.requests", 0) / orders,
        "invocationsByFunction": {k.removeprefix("lambda.invocations.").split("-")[-1][:40]: round(v / orders, 2)
                                  for k, v in sorted(delta.items()) if k.startswith("lambda.invocations.")},
    }


def cost_per_million(per_order_counts: dict, prices: dict) -> dict[str, float]:
    c, p, m = per_order_counts, prices, 1_000_000
    return {
        "API Gateway": c["apiRequests"] * p["apiGateway"]["restRequestsPerMillion"],
        "Lambda requests": c["lambdaInvocations"] * p["lambda"]["requestsPerMillion"],
        "Lambda compute": c["lambdaGbSeconds"] * m * p["lambda"]["gbSecond"],
        "EventBridge": c["eventBridgeEvents"] * p["eventbridge"]["customEventsPerMillion"],
        "DynamoDB writes": c["dynamodbWriteUnits"] * p["dynamodb"]["writeRequestUnitsPerMillion"],
        "DynamoDB reads": c["dynamodbReadUnits"] * p["dynamodb"]["readRequestUnitsPerMillion"],
        "SQS": c["sqsRequests"] * p["sqs"]["requestsPerMillion"],
    }


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _percentile(ordered: list[float], q: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]
