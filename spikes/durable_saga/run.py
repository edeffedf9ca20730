"""SPIKE: the same orders through (a) the platform's choreographed saga and (b) the durable-function
saga, on ONE metered local cloud (deployed once, as prod), one order at a time; per-order figures
side by side, written to results.json and results.md.

    .venv/bin/python -m spikes.durable_saga.run --happy 20 --compensated 5

(a) runs first, as deployed. Then the flag flips the saga to (b): the OrderSaga rule is disabled
(so the choreographed saga no longer reacts), the durable function is created (deploy.py), and
each order is started by a synchronous Invoke of it with Qualifier=$LATEST, issued by this script
right after POST /orders returns (the starter; see README.md for why not a rule).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.config import Config

from bench import bill
from bench.flow import PRICES, SOLD_OUT, SKU, Watcher, per_order, settled_meter
from localcloud import meter
from payments.provider import KEYS
from localcloud.api import Api
from localcloud.cloud import LocalCloud, free_port
from localcloud.customers import Customers
from spikes.durable_saga import deploy

HERE = Path(__file__).resolve().parent
DESIGNS = ("current", "durable", "durableAtMostOnce")
CUSTOMERS = 2
PRICE_TABLE = json.loads((HERE.parents[1] / "bench" / "prices.json").read_text())
DURABLE_OP_PRICE_ASSUMED = 8.00  # USD per million durable operations: NOT confirmed on an AWS page


class SpikeCloud(LocalCloud):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.server_module = "spikes.durable_saga.server"  # the fixes + meter + durable counters


def durable_counts(before: dict, after: dict, orders: int) -> dict:
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if k.startswith("durable.")}
    return {k.removeprefix("durable."): v / orders for k, v in sorted(delta.items()) if v}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--happy", type=int, default=20)
    parser.add_argument("--compensated", type=int, default=5)
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    command = "cd /tmp/durable-spike && .venv/bin/python -m spikes.durable_saga.run " + " ".join(sys.argv[1:])
    prices = json.loads((Path(deploy.ROOT) / "bench" / "prices.json").read_text())
    results: dict = {"command": command, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                     "orders": {"happy": args.happy, "compensated": args.compensated}}

    with tempfile.TemporaryDirectory() as tmp:
        meter_file = str(Path(tmp) / "meter.json")
        cloud = SpikeCloud(port=free_port(), state_dir=Path(tmp) / "cloud", stage="prod",
                           server_env={"LOCAL_CLOUD_METER": meter_file})
        cloud.start()
        try:
            t0 = time.monotonic()
            outputs = cloud.deploy(quiet=True)
            print(f"deployed in {time.monotonic() - t0:.0f}s", flush=True)
            api = Api(outputs.api_url, cloud.aws_env())
            watcher = Watcher(cloud.endpoint, outputs["OrdersTableName"])
            api("PUT", f"/inventory/{SKU}", {"quantity": 1000})
            api("PUT", f"/inventory/{SOLD_OUT}", {"quantity": 0})
            for product in (SKU, SOLD_OUT):
                api("PUT", f"/inventory/{product}/prices", {"prices": {"EUR": PRICES[product]}})
            pool = Customers(outputs, cloud.aws_env(), cloud.endpoint)
            customers = [api.as_customer(pool.sign_up(f"spike-{i}@example.com").id_token) for i in range(CUSTOMERS)]
            for i, customer in enumerate(customers):
                customer("POST", "/users", {"name": f"Customer {i}"})
            owners: dict[str, Api] = {}
            lam = boto3.client("lambda", endpoint_url=cloud.endpoint, region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test",
                               config=Config(read_timeout=300, retries={"max_attempts": 0}))
            starter = {"on": False, "invokeMs": []}
            cpu_file = Path(tmp) / "durable-cpu.txt"
            cpu_file.touch()

            def cpu_lines() -> list[float]:
                return [float(x) for x in cpu_file.read_text().split()]

            def place(i: int, product: str) -> str:
                customer = customers[i % CUSTOMERS]
                order_id = customer("POST", "/orders", {"items": [{"productId": product, "quantity": 1,
                                                                    "price": PRICES[product]}]})["orderId"]
                owners[order_id] = customer
                if starter["on"]:  # (b): the starter; synchronous and qualified (MiniStack gaps)
                    started = time.perf_counter()
                    response = lam.invoke(FunctionName=deploy.NAME, Qualifier="$LATEST", InvocationType="RequestResponse",
                                          Payload=json.dumps({"orderId": order_id}).encode())
                    starter["invokeMs"].append((time.perf_counter() - started) * 1000)
                    body = json.loads(response["Payload"].read() or b"{}")
                    if response.get("FunctionError") or body.get("Status") != "SUCCEEDED":
                        raise RuntimeError(f"durable saga of {order_id}: {response.get('FunctionError')} {body}")
                return order_id

            def measure(label: str, product: str, count: int, settled: str) -> dict:
                before = settled_meter(cloud, meter_file)
                cpu_before = len(cpu_lines())
                ids = []
                for i in range(count):
                    ids.append(place(i, product))
                    watcher.wait_settled(ids[-1:], 120, settled=(settled,))
                after = settled_meter(cloud, meter_file)
                figures = per_order(before, after, count, api_requests=count)
                figures["durable"] = durable_counts(before, after, count)
                durable_fn = figures["functions"].get(deploy.NAME)
                if durable_fn:  # the meter loses the SDK's exited threads' CPU: the function's own clock
                    durable_fn["cpuSecondsMeter"] = durable_fn["cpuSeconds"]
                    durable_fn["cpuSeconds"] = sum(cpu_lines()[cpu_before:]) / count
                figures["latencyMs"] = latencies(owners, ids, "ORDER_COMPLETED" if settled == "COMPLETED"
                                                 else "ORDER_CANCELLED")
                figures["orderIds"] = ids
                figures["money"] = money(cloud, outputs, ids)
                print(f"{label}: {count} orders measured", flush=True)
                return figures

            def warm() -> None:  # every function warm: running-system figures, not cold starts
                watcher.wait_settled([place(90, SKU), place(91, SKU)], 120, settled=("COMPLETED",))
                watcher.wait_settled([place(92, SOLD_OUT)], 120, settled=("CANCELLED",))

            # (a) the platform as deployed
            warm()
            results["current"] = {"happy": measure("current/happy", SKU, args.happy, "COMPLETED"),
                                  "compensated": measure("current/compensated", SOLD_OUT, args.compensated,
                                                         "CANCELLED")}
            # flip the flag: the choreographed saga off, the durable one on
            disabled = disable_saga_rule(cloud, outputs)
            results["disabledRules"] = disabled
            starter["on"] = True
            for design, semantics in (("durable", "at-least-once"), ("durableAtMostOnce", "at-most-once")):
                deploy.deploy(cloud.endpoint, outputs, {"SPIKE_CPU_FILE": str(cpu_file),
                                                        "SPIKE_CHARGE_SEMANTICS": semantics})
                warm()
                starter["invokeMs"].clear()
                happy = measure(f"{design}/happy", SKU, args.happy, "COMPLETED")
                happy["starterInvokeMs"] = summary(starter["invokeMs"])
                starter["invokeMs"].clear()
                compensated = measure(f"{design}/compensated", SOLD_OUT, args.compensated, "CANCELLED")
                compensated["starterInvokeMs"] = summary(starter["invokeMs"])
                results[design] = {"chargeSemantics": semantics, "happy": happy, "compensated": compensated,
                                   "sampleExecution": sample_execution(lam)}
        finally:
            cloud.stop()

    results["costPerMillionOrders"] = costs(results, prices)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "results.md").write_text(table(results))
    print(table(results))


def disable_saga_rule(cloud, outputs) -> list[str]:
    events = boto3.client("events", endpoint_url=cloud.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    saga = outputs.function_name("OrderSaga")
    disabled = []
    for bus in [b["Name"] for b in events.list_event_buses()["EventBuses"]]:
        for rule in events.list_rules(EventBusName=bus).get("Rules", []):
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            if any(t["Arn"].split(":")[-1] == saga or t["Arn"].endswith(f":{saga}") for t in targets):
                events.disable_rule(Name=rule["Name"], EventBusName=bus)
                disabled.append(f"{bus}/{rule['Name']}")
    if not disabled:
        raise RuntimeError("no rule targets OrderSaga: cannot switch the saga off")
    return disabled


def latencies(owners, ids, last: str) -> dict:
    values = []
    for order_id in ids:
        events = owners[order_id]("GET", f"/orders/{order_id}/events")["events"]
        at = {e["eventType"]: datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp() for e in events}
        values.append((at[last] - at["ORDER_CREATED"]) * 1000)
    return summary(values)


def summary(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)
    return {"p50": round(values[len(values) // 2], 1), "max": round(values[-1], 1),
            "mean": round(sum(values) / len(values), 1)}


def money(cloud, outputs, ids) -> dict:
    """What the simulated card network moved for these orders (read as an observer: not billed)."""
    ddb = boto3.client("dynamodb", endpoint_url=cloud.endpoint, region_name="us-east-1",
                       aws_access_key_id=meter.OBSERVER_KEY, aws_secret_access_key="observer")
    table = next(v for k, v in outputs.values.items() if "CardNetwork" in k and k.endswith("TableName"))
    moves = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            moves[item["key"]["S"]] = int(item.get("moves", {"N": "0"})["N"])
    charges = [moves.get(f"charge:{o}", 0) for o in ids]
    refunds = [moves.get(f"refund:pay-{uuid.uuid5(KEYS, f'charge:{o}').hex[:20]}", 0) for o in ids]
    return {"orders": len(ids), "chargeMovesPerOrder": sorted(set(charges)), "refundMovesPerOrder": sorted(set(refunds))}


def sample_execution(lam) -> dict:
    """The last durable execution's operations and history, as GetDurableExecution* return them."""
    try:
        listed = lam.list_durable_executions_by_function(FunctionName=deploy.NAME, Qualifier="$LATEST")
        arn = listed["DurableExecutions"][-1]["DurableExecutionArn"]
        history = lam.get_durable_execution_history(DurableExecutionArn=arn)
        return {"arn": arn, "events": [e.get("EventType") for e in history.get("Events", [])]}
    except Exception as error:  # noqa: BLE001 - informative only
        return {"error": str(error)[:300]}


def costs(results: dict, prices: dict) -> dict:
    out = {}
    for design in DESIGNS:
        for path in ("happy", "compensated"):
            figures = results[design][path]
            services = bill.bill(figures, prices)
            platform = bill.platform_total(services)
            ops = sum(v for k, v in figures["durable"].items() if k.startswith("operations."))
            executions = figures["durable"].get("executions", 0)
            out[f"{design}/{path}"] = {
                "byService": {k: round(v, 2) for k, v in services.items()},
                "platformWithoutSes": round(platform, 2),
                "durableOperations": ops,
                "durableOperationsInclExecution": ops + executions,
                "withDurableOpsAt8PerMillionASSUMED": round(platform + ops * DURABLE_OP_PRICE_ASSUMED, 2),
                "withDurableOpsInclExecutionAt8PerMillionASSUMED": round(
                    platform + (ops + executions) * DURABLE_OP_PRICE_ASSUMED, 2),
            }
    return out


def table(results: dict) -> str:
    rows = [("Lambda invocations", lambda f: f["lambdaInvocations"]),
            ("  of which saga-side functions", lambda f: sum(v["invocations"] for k, v in f["functions"].items()
                                                            if k in ("OrderSaga", "Payments", "InventoryReservations")
                                                            or "Durable" in k)),
            ("saga-side Lambda CPU s", lambda f: sum(v["cpuSeconds"] for k, v in f["functions"].items()
                                                     if k in ("OrderSaga", "Payments", "InventoryReservations")
                                                     or "Durable" in k)),
            ("saga-side Lambda wall s", lambda f: sum(v["wallSeconds"] for k, v in f["functions"].items()
                                                      if k in ("OrderSaga", "Payments", "InventoryReservations")
                                                      or "Durable" in k)),
            ("Lambda CPU s (all functions)", lambda f: sum(v["cpuSeconds"] for v in f["functions"].values())),
            ("Lambda wall s (all functions)", lambda f: sum(v["wallSeconds"] for v in f["functions"].values())),
            ("DynamoDB write units", lambda f: f["dynamodbWriteUnits"]),
            ("DynamoDB read units", lambda f: f["dynamodbReadUnits"]),
            ("DynamoDB requests", lambda f: f["dynamodbRequests"]),
            ("EventBridge events", lambda f: f["eventBridgeEvents"]),
            ("Lambda GB-s billed (bench/bill.py)", lambda f: bill.lambda_compute(f, PRICE_TABLE)[0]),
            ("Log bytes", lambda f: f["logBytes"]),
            ("durable executions", lambda f: f["durable"].get("executions", 0)),
            ("durable operations (checkpointed)", lambda f: sum(v for k, v in f["durable"].items()
                                                               if k.startswith("operations."))),
            ("CheckpointDurableExecution calls", lambda f: f["durable"].get("checkpoint_calls", 0)),
            ("  operation updates they carried", lambda f: f["durable"].get("checkpoint_updates", 0)),
            ("  checkpoint request bytes", lambda f: f["durable"].get("state_bytes", 0)),
            ("ORDER_CREATED -> settled, p50 ms", lambda f: f["latencyMs"].get("p50", 0))]
    columns = [(d, p) for p in ("happy", "compensated") for d in DESIGNS]
    lines = [f"Command: `{results['command']}` ({results['date']})", "",
             "Per order, one order at a time, warm functions, local cloud metered (localcloud/meter.py).", "",
             "| per order | " + " | ".join(f"{d} {p}" for d, p in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for label, get in rows:
        lines.append(f"| {label} | " + " | ".join(f"{get(results[d][p]):,.3f}".rstrip("0").rstrip(".")
                                               for d, p in columns) + " |")
    lines += ["", "Invocations by function:", ""]
    names = sorted({n for d, p in columns for n in results[d][p]["functions"]})
    lines += ["| function | " + " | ".join(f"{d} {p}" for d, p in columns) + " |", "|---|" + "---:|" * len(columns)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(
            f"{results[d][p]['functions'].get(name, {}).get('invocations', 0):.2f}" for d, p in columns) + " |")
    lines += ["", "USD per million orders (bench/prices.json; SES excluded; durable operation price NOT confirmed "
              "on an AWS page, $8.00/M is an ASSUMPTION):", "",
              "| | platform, no durable-op charge | + durable ops at $8/M (ASSUMED) |", "|---|---:|---:|"]
    for key, c in results["costPerMillionOrders"].items():
        lines.append(f"| {key} | {c['platformWithoutSes']:.2f} | {c['withDurableOpsAt8PerMillionASSUMED']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
