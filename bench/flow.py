"""End to end on the local cloud, deployed as prod: orders through the whole flow (API -> store
-> bus -> consumers -> saga -> completed), with the throughput, the latency of each order from
POST /orders to ORDER_COMPLETED, and every billable request an order causes (counted by
localcloud/meter.py inside the cloud), on the happy path and on a day's mix of outcomes."""

from __future__ import annotations

import contextlib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import boto3

from bench import load
from bench.functions import CONSUMER_NAMES, HANDLERS
from bench.load import percentile
from infra.tables import TABLES as DECLARED_TABLES
from localcloud import meter
from localcloud.api import Api
from localcloud.cloud import LocalCloud, free_port
from localcloud.customers import Customers
from ops.fault import RATE, set_switches

SKU = "BENCH-SKU"
SOLD_OUT = "BENCH-SOLD-OUT"
WARM_UP = 3
CUSTOMERS = 5
DEAR = "BENCH-DEAR"  # priced over the simulated card's limit in euros (payments.provider, 1000.00)
PRICES = {SKU: "9.99", SOLD_OUT: "9.99", DEAR: "1200.00"}
# A day's mix, in 20 orders: 2 cancelled by the customer (10%), 1 declined (5%), 1 out of stock
# (5%), the rest happy; and 1% of every consumer's invocations fail once and are retried.
MIX = ("cancelled", "cancelled", "declined", "sold-out") + ("happy",) * 16
TRANSIENT_FAULT_RATE = 0.01
SETTLED = ("COMPLETED", "CANCELLED")


class Watcher:
    """Reads the read model as an observer (the meter does not bill its requests)."""

    def __init__(self, endpoint: str, table: str):
        self._client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=meter.OBSERVER_KEY,
            aws_secret_access_key="observer",
        )
        self._table = table

    def statuses(self, order_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(order_ids), 100):
            keys = [{"orderId": {"S": order_id}} for order_id in order_ids[start : start + 100]]
            response = self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}})
            found.update({i["orderId"]["S"]: i["status"]["S"] for i in response["Responses"].get(self._table, [])})
        return found

    def wait_settled(self, order_ids: list[str], timeout: float, settled=SETTLED) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses(order_ids)
            if all(statuses.get(order_id) in settled for order_id in order_ids):
                return statuses
            if time.monotonic() > deadline:
                pending = [o for o in order_ids if statuses.get(o) not in settled]
                raise TimeoutError(f"{len(pending)} orders not settled within {timeout:.0f}s, e.g. {pending[:3]}")
            time.sleep(0.3)


def settled_meter(cloud: LocalCloud, path: str) -> dict:
    """The meter once the cloud has nothing in flight and the meter has stopped moving: trailing
    consumers and retries done, and the analytics fold's batch, gathered for up to its window
    (10 s in prod), folded and counted in the run whose markers it folds."""
    return cloud.wait_until_idle(lambda: meter.read(path))


def run(
    rates: list[int],
    step_seconds: float,
    *,
    metered: int = 20,
    mixed: int = 40,
    timeout: float = 900,
    stage: str = "prod",
) -> dict:
    orders = int(sum(rates) * step_seconds) + len(rates)
    with tempfile.TemporaryDirectory() as tmp:
        meter_file = str(Path(tmp) / "meter.json")
        cloud = LocalCloud(
            port=free_port(), state_dir=Path(tmp) / "cloud", stage=stage, server_env={"LOCAL_CLOUD_METER": meter_file}
        )
        cloud.start()
        try:
            outputs = cloud.deploy(quiet=True)
            api = Api(outputs.api_url, cloud.aws_env())  # staff routes: SigV4
            watcher = Watcher(cloud.endpoint, outputs["OrdersTableName"])
            api("PUT", f"/inventory/{SKU}", {"quantity": (orders + metered + mixed + WARM_UP) * 10})
            api("PUT", f"/inventory/{SOLD_OUT}", {"quantity": 0})
            api("PUT", f"/inventory/{DEAR}", {"quantity": 0})
            for product, price in PRICES.items():
                api("PUT", f"/inventory/{product}/prices", {"prices": {"EUR": price}})
            # Registered customers, signed up to the user pool: every order's emails are really
            # sent (and billed). Each customer calls the customer routes with their ID token.
            pool = Customers(outputs, cloud.aws_env(), cloud.endpoint)
            tokens = [pool.sign_up(f"bench-{i}@example.com").id_token for i in range(CUSTOMERS)]
            customers = [api.as_customer(token) for token in tokens]
            for i, customer in enumerate(customers):
                customer("POST", "/users", {"name": f"Customer {i}"})
            owners: dict[str, Api] = {}  # order id: its customer's API (only they may read it)

            def place(i: int, kind: str = "happy") -> str:
                product = {"sold-out": SOLD_OUT, "declined": DEAR}.get(kind, SKU)
                line = {"productId": product, "quantity": 1, "price": PRICES[product]}  # the price it was shown
                customer = customers[i % CUSTOMERS]
                order_id = customer("POST", "/orders", {"items": [line]})["orderId"]
                owners[order_id] = customer
                if kind == "cancelled":
                    customer("POST", f"/orders/{order_id}/cancel", {"reason": "changed my mind"})
                return order_id

            # Warm every function first: the figures are for a running system, not for cold starts.
            watcher.wait_settled([place(i) for i in range(WARM_UP)], timeout)

            # 1. The happy path, one order at a time, metered: what an order costs, and its
            # latency unloaded (under load the durations would also count waiting for a worker).
            before = settled_meter(cloud, meter_file)
            sequential = []
            for i in range(metered):
                sequential.append(place(i))
                watcher.wait_settled(sequential[-1:], timeout, settled=("COMPLETED",))
            happy = per_order(before, settled_meter(cloud, meter_file), metered, api_requests=metered)

            # 2. A day's mix, one at a time, metered, with 1% transient faults in every consumer.
            faults = _transient_faults(cloud, outputs, TRANSIENT_FAULT_RATE)
            try:
                watcher.wait_settled([place(i) for i in range(WARM_UP)], timeout)  # the functions' new workers
                before = settled_meter(cloud, meter_file)
                kinds = [MIX[i % len(MIX)] for i in range(mixed)]
                mixed_ids = []
                for i, kind in enumerate(kinds):
                    mixed_ids.append(place(i, kind))
                    watcher.wait_settled(mixed_ids[-1:], timeout)
                after = settled_meter(cloud, meter_file)
            finally:
                faults.clear()
            statuses = watcher.statuses(mixed_ids)
            day = per_order(before, after, mixed, api_requests=mixed + kinds.count("cancelled"))
            day["outcomes"] = {status: list(statuses.values()).count(status) for status in SETTLED}
            day["mix"] = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
            day["transientFaultRate"] = TRANSIENT_FAULT_RATE
            watcher.wait_settled([place(i) for i in range(WARM_UP)], timeout)  # workers without faults again

            # 3. Steady arrival rates, rising (locust, ID tokens): each order from its POST to its
            # ORDER_COMPLETED, metered too (the outbox's stream batches carry more than one event
            # when orders overlap).
            before = settled_meter(cloud, meter_file)
            records = load.drive(outputs.api_url, cloud.aws_env(), tokens, SKU, rates, step_seconds)
            order_ids = [o["orderId"] for o in records["orders"] if o["orderId"]]
            owners.update({o["orderId"]: customers[o["customer"]] for o in records["orders"] if o["orderId"]})
            # the backlog of the rates beyond saturation drains; what never completes is an error
            with contextlib.suppress(TimeoutError):
                watcher.wait_settled(order_ids, timeout, settled=("COMPLETED",))
            under_load = per_order(
                before, settled_meter(cloud, meter_file), len(order_ids), api_requests=len(records["orders"])
            )
            completed = _completed_at(owners, order_ids)
            rows = load.curve(records, completed)
            unloaded = _unloaded_latencies(owners, sequential)
        finally:
            cloud.stop()

    return {
        "stage": stage,
        "stepSeconds": step_seconds,
        "loadCurve": rows,
        "unloaded": {"orders": metered, "latencyMs": _summary(unloaded)},
        "perOrder": happy,
        "perOrderMixed": day,
        "perOrderLoaded": under_load,
    }


class _Faults:
    def __init__(self, client, names: list[str]):
        self._client, self._names = client, names

    def clear(self) -> None:
        for name in self._names:
            set_switches(name, {RATE: None}, client=self._client)


def _transient_faults(cloud: LocalCloud, outputs, rate: float) -> _Faults:
    """Every consumer fails this share of its invocations at random (before or after its work)."""
    client = boto3.client(
        "lambda",
        endpoint_url=cloud.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    names = [outputs.function_name(name) for name in CONSUMER_NAMES]
    for name in names:
        set_switches(name, {RATE: str(rate)}, client=client)
    return _Faults(client, names)


def _events(owners: dict[str, Api], order_id: str) -> dict[str, float]:
    """An order's events, read by its customer (another's order is a 404), by type: when stored."""
    events = owners[order_id]("GET", f"/orders/{order_id}/events")["events"]
    return {e["eventType"]: _time(e["timestamp"]) for e in events}


def _completed_at(owners: dict[str, Api], order_ids: list[str]) -> dict[str, float]:
    """When each completed order's ORDER_COMPLETED was stored (epoch seconds)."""
    with ThreadPoolExecutor(4) as pool:
        events = pool.map(lambda order_id: _events(owners, order_id), order_ids)
        return {
            order_id: found["ORDER_COMPLETED"]
            for order_id, found in zip(order_ids, events, strict=True)
            if "ORDER_COMPLETED" in found
        }


def _unloaded_latencies(owners: dict[str, Api], order_ids: list[str]) -> list[float]:
    """Each order's time from ORDER_CREATED to ORDER_COMPLETED, as the event store dates them
    (sent one at a time, an order waits for nothing else: the client's POST adds its own answer)."""
    latencies = []
    for order_id in order_ids:
        events = _events(owners, order_id)
        latencies.append((events["ORDER_COMPLETED"] - events["ORDER_CREATED"]) * 1000)
    return sorted(latencies)


def _summary(latencies: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(latencies, 50), 1),
        "p95": round(percentile(latencies, 95), 1),
        "max": round(latencies[-1], 1),
    }


def per_order(before: dict, after: dict, orders: int, *, api_requests: int) -> dict:
    """Billable counts per order, from the meter's counts over the run."""
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    prefix = "lambda.invocations."
    functions = {}
    for key in sorted(delta):
        if key.startswith(prefix) and delta[key]:
            name = key.removeprefix(prefix)
            functions[name] = {
                "invocations": delta[key] / orders,
                "cpuSeconds": delta.get(f"lambda.cpu_seconds.{name}", 0) / orders,
                "wallSeconds": delta.get(f"lambda.wall_seconds.{name}", 0) / orders,
                "queuedSeconds": delta.get(f"lambda.queued_seconds.{name}", 0) / orders,
                "coldStarts": delta.get(f"lambda.cold.{name}", 0) / orders,
                "memoryMb": after.get(f"lambda.memory_mb.{name}", 128),
                "peakRssMb": round(after.get(f"lambda.peak_rss_mb.{name}", 0), 1),
                "arm64": bool(after.get(f"lambda.arm64.{name}", 0)),
            }
    return {
        "apiRequests": api_requests / orders,
        "lambdaInvocations": delta.get("lambda.invocations", 0) / orders,
        "functions": {_short(name): figures for name, figures in functions.items()},
        "eventBridgeEvents": delta.get("events.entries", 0) / orders,
        "putEventsCalls": delta.get("events.put_events_calls", 0) / orders,
        "archivedBytes": delta.get("events.archived_bytes", 0) / orders,
        "dynamodbWriteUnits": delta.get("dynamodb.write_units", 0) / orders,
        "dynamodbIndexWriteUnits": delta.get("dynamodb.write_units.index", 0) / orders,
        "dynamodbRefusedWriteUnits": delta.get("dynamodb.write_units.refused", 0) / orders,
        "dynamodbReadUnits": sum(v for k, v in delta.items() if k.startswith("dynamodb.read_units.")) / orders,
        "dynamodbRequests": delta.get("dynamodb.requests", 0) / orders,
        "dynamodbRequestsByOperation": {
            k.removeprefix("dynamodb.requests."): v / orders
            for k, v in sorted(delta.items())
            if k.startswith("dynamodb.requests.") and v
        },
        "writeUnitsByTable": {
            _short(k.removeprefix("dynamodb.write_units.table."), TABLES): v / orders
            for k, v in sorted(delta.items())
            if k.startswith("dynamodb.write_units.table.") and v
        },
        "sqsRequests": delta.get("sqs.requests", 0) / orders,
        "emails": delta.get("ses.emails", 0) / orders,
        "logBytes": delta.get("logs.bytes", 0) / orders,
        "logEvents": delta.get("logs.events", 0) / orders,
        "meterErrors": delta.get("meter.errors", 0),
    }


# The stateful stack's tables by logical id, longest first (one name may contain another).
TABLES = sorted((spec.logical_id for spec in DECLARED_TABLES.values()), key=len, reverse=True)


def _short(physical_name: str, names=None) -> str:
    """A function's or a table's physical name -> the name the stacks give it (OrderSaga, EventStore)."""
    for known in names or sorted(HANDLERS, key=len, reverse=True):
        if known in physical_name:
            return known
    return physical_name[-40:]


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
