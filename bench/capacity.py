"""The capacity model: what each order asks of every resource, as `make bench` measured it in
the local cloud, multiplied out to 10, 100, 1,000 and 10,000 orders a second and held against
AWS's published default quotas (bench/quotas.json, each with its source). It names the first
limit each rate meets and what raises it.

    python -m bench.capacity          # docs/SCALING.md and infra/concurrency.json (what prod
                                      # reserves for each consumer) from docs/performance/results.json

Nothing here is a guess about the code: the requests, write units and invocations per order and
each function's duration are the benchmark's; the key design of each table is the stacks'.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import bill
from bench.functions import CONSUMER_NAMES
from infra.consumers import (
    ANALYTICS_FOLD,
    CONSUMERS,
    FUNCTIONS,
    STREAM_READERS,
    NotSized,
    ScheduledSpec,
    StreamReaderSpec,
)
from infra.tables import ANALYTICS, ANALYTICS_EVENTS, AUDIT, EMAIL_LOG, EVENT_STORE, INVENTORY, ORDERS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONCURRENCY_FILE = ROOT / "infra" / "concurrency.json"  # what the stacks reserve for each consumer
QUOTAS = json.loads((Path(__file__).with_name("quotas.json")).read_text())
PRICES = json.loads((Path(__file__).with_name("prices.json")).read_text())
RATES = (10, 100, 1_000, 10_000)
ENTRIES_PER_CALL = 10  # the publisher sends up to 10 entries a PutEvents call (full batches at scale)
FOLD_BATCH = ANALYTICS_FOLD.batch_size  # markers folded into the counters a batch
# Started by a stream or a schedule, not once an order: their concurrency is not rate x duration.
NOT_PER_ORDER = {spec.name for spec in FUNCTIONS if isinstance(spec, (StreamReaderSpec, ScheduledSpec))}


@dataclass(frozen=True)
class Demand:
    """One resource: what an order asks of it, the quota it is held against, how to raise it."""

    resource: str
    per_order: float  # units a second for each order a second
    unit: str
    quota: float
    quota_name: str
    raise_by: str

    def at(self, rate: float) -> float:
        return self.per_order * rate

    @property
    def max_rate(self) -> float:
        return self.quota / self.per_order if self.per_order else math.inf


def durations(per_order: dict) -> dict[str, float]:
    """Each function's duration an invocation, in seconds, as AWS would run it (the billed time:
    CPU at the function's share of a vCPU, plus the time it waits on I/O)."""
    return {
        name: bill.billed_seconds(f["cpuSeconds"], f["wallSeconds"], f["memoryMb"], PRICES, f.get("queuedSeconds", 0.0))
        / f["invocations"]
        for name, f in per_order["functions"].items()
        if f["invocations"]
    }


def concurrency(per_order: dict) -> dict[str, float]:
    """Concurrent executions for each order a second (rate x duration), function by function.
    The stream readers (Publisher, AnalyticsFold) run one batch at a time per shard: they are
    counted by shards at each rate instead (see stream_concurrency)."""
    seconds = durations(per_order)
    return {
        name: per_order["functions"][name]["invocations"] * seconds[name]
        for name in seconds
        if name not in NOT_PER_ORDER
    }


def stream_concurrency(per_order: dict, rate: float) -> dict[str, int]:
    """One concurrent batch per stream shard; a shard per partition, a partition per 1,000 write
    units a second (at least one)."""
    tables = per_order["writeUnitsByTable"]
    partition = QUOTAS["dynamodbPartition"]["default"]
    return {
        reader.name: max(1, math.ceil(tables.get(reader.table.logical_id, 0) * rate / partition))
        for reader in STREAM_READERS
    }


def demands(per_order: dict) -> list[Demand]:
    q = QUOTAS
    consumers = sum(per_order["functions"].get(name, {}).get("invocations", 0) for name in CONSUMER_NAMES)
    tables = per_order["writeUnitsByTable"]
    busiest_table = max(tables, key=tables.get)
    return [
        Demand(
            "API Gateway",
            per_order["apiRequests"],
            "requests/s",
            q["apiGateway"]["default"],
            "API Gateway requests per second (account)",
            "a quota increase (Service Quotas)",
        ),
        Demand(
            "EventBridge PutEvents",
            per_order["eventBridgeEvents"] / ENTRIES_PER_CALL,
            "requests/s",
            q["eventbridgePutEvents"]["default"],
            "PutEvents requests per second",
            "a quota increase",
        ),
        Demand(
            "EventBridge target invocations",
            consumers,
            "invocations/s",
            q["eventbridgeInvocations"]["default"],
            "invocations per second (us-east-1)",
            "a quota increase; past it EventBridge delays deliveries rather than dropping them",
        ),
        Demand(
            "Lambda concurrency",
            sum(concurrency(per_order).values()),
            "concurrent executions",
            q["lambdaConcurrency"]["default"],
            "concurrent executions (account)",
            "a quota increase; or more memory per function (a larger CPU share ends each event sooner)",
        ),
        Demand(
            f"DynamoDB {busiest_table}",
            tables[busiest_table],
            "write units/s",
            q["dynamodbTable"]["default"],
            "write units per second per on-demand table",
            "a quota increase",
        ),
    ]


# How each table's busiest partition key and busiest item take writes, from its key design
# (infra/stateful_stack.py): (table, key, writes/s on the key, writes/s on one item, why).
def busiest_keys(per_order: dict, rate: float, lanes: int) -> list[tuple[str, str, float, float, str]]:
    tables = per_order["writeUnitsByTable"]
    markers = tables.get(ANALYTICS_EVENTS.logical_id, 0) * rate
    folds = max(1 / 10, markers / FOLD_BATCH)  # counter updates a second, each lane's item once a batch
    product = tables.get(INVENTORY.logical_id, 0) * rate
    return [
        (
            EVENT_STORE.logical_id,
            "aggregateId",
            tables.get(EVENT_STORE.logical_id, 0),
            1.0,
            "one order's streams, whatever the rate; each event an item written once",
        ),
        (
            AUDIT.logical_id,
            "correlationId",
            tables.get(AUDIT.logical_id, 0),
            1.0,
            "one order's conversation; each entry written once",
        ),
        (ORDERS.logical_id, "orderId", tables.get(ORDERS.logical_id, 0), tables.get(ORDERS.logical_id, 0), "one order"),
        (EMAIL_LOG.logical_id, "id", 2.0, 2.0, "one email: claimed, then SENT"),
        (
            ANALYTICS_EVENTS.logical_id,
            f"lane (1 of {lanes})",
            markers / lanes,
            1.0,
            "the markers, spread over the lanes; each marker an item written once",
        ),
        (
            ANALYTICS.logical_id,
            "day#lane",
            folds,
            folds,
            f"each lane's counter, once a folded batch (up to {FOLD_BATCH} markers, or 10 s in prod)",
        ),
        (
            INVENTORY.logical_id,
            "productId",
            product,
            product,
            "every order of one product (a flash sale): a transaction, twice the units",
        ),
    ]


def scaling_page(results: dict) -> str:
    from analytics.counters import LANES

    per_order = results["endToEnd"]["perOrder"]
    rows = demands(per_order)
    per_function = concurrency(per_order)
    seconds = durations(per_order)
    lines = [
        "# Scaling",
        "",
        f"Generated by `make capacity` from the benchmark of {results['when']} (commit {results['commit']}, "
        "[performance/results.json](performance/results.json)): the requests, write units and invocations of one "
        "order on the happy path and each function's duration as AWS would bill it, multiplied out, against the "
        f"default quotas of a new account in {QUOTAS['region']} ([bench/quotas.json](../bench/quotas.json), each with "
        "its source).",
        "",
        "## Every resource at each rate",
        "",
        "| resource | per order | "
        + " | ".join(f"{r:,} orders/s" for r in RATES)
        + " | default quota | first rate over it |",
        "| --- | ---: | " + " | ".join("---:" for _ in RATES) + " | ---: | ---: |",
    ]
    for d in rows:
        lines.append(
            f"| {d.resource} ({d.unit}) | {d.per_order:.2f} | "
            + " | ".join(_mark(d.at(r), d.quota) for r in RATES)
            + f" | {d.quota:,.0f} | {d.max_rate:,.0f} orders/s |"
        )
    ordered = sorted(rows, key=lambda d: d.max_rate)
    first, second = ordered[0], ordered[1]
    lines += [
        "",
        "**bold**: over the default quota.",
        "",
        "## The first limit",
        "",
        f"**{first.resource}** ({first.quota_name}, {first.quota:,.0f}) is reached at "
        f"**{first.max_rate:,.0f} orders a second**; then **{second.resource}** ({second.quota_name}, "
        f"{second.quota:,.0f}) at {second.max_rate:,.0f}. What raises the first: {first.raise_by}. The second: "
        f"{second.raise_by}.",
        "",
        f"So the prod stage sustains {min(1000, int(first.max_rate)):,} orders a second within default quotas"
        + (
            "."
            if first.max_rate >= 1000
            else ", and 1,000 orders a second needs these increases: "
            + "; ".join(
                f"{d.quota_name} to at least {d.at(1000) * 1.25:,.0f} (1,000 orders/s and a quarter more)"
                for d in ordered
                if d.max_rate < 1000
            )
            + "."
        ),
        "",
        "Emails are apart: SES's sending rate is 1 a second in the sandbox and set per account out of it; "
        f"{per_order['emails']:.0f} emails an order ask {per_order['emails'] * 1000:,.0f} a second at 1,000 orders "
        "a second, to be requested with production access.",
        "",
        "## Lambda concurrency, function by function",
        "",
        "Rate x duration (the duration an invocation as AWS would bill it, from the benchmark). This is the figure "
        "to reserve for each consumer at a target rate; the stream readers run one batch per shard at a time.",
        "",
        "| function | invocations an order | ms an invocation | " + " | ".join(f"{r:,}/s" for r in RATES) + " |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in RATES) + " |",
    ]
    for name, per in sorted(per_function.items(), key=lambda item: -item[1]):
        invocations = per_order["functions"][name]["invocations"]
        lines.append(
            f"| {name} | {invocations:.2f} | {seconds[name] * 1000:.0f} | "
            + " | ".join(f"{math.ceil(per * r):,}" for r in RATES)
            + " |"
        )
    for reader in STREAM_READERS:
        lines.append(
            f"| {reader.name} (one batch a shard) | | | "
            + " | ".join(f"{stream_concurrency(per_order, r)[reader.name]:,}" for r in RATES)
            + " |"
        )
    total = [math.ceil(sum(per_function.values()) * r) + sum(stream_concurrency(per_order, r).values()) for r in RATES]
    lines += [
        "| **total** | | | " + " | ".join(_mark(t, QUOTAS["lambdaConcurrency"]["default"]) for t in total) + " |",
        "",
        f"Each function adds at most {QUOTAS['lambdaScaling']['default']:,} concurrent executions every "
        f"{QUOTAS['lambdaScaling']['perSeconds']} s, so a function that needs N from cold takes about "
        "10 s per thousand to get there; EventBridge retries deliveries it could not make meanwhile.",
        "",
        *reservation_lines(results),
        "",
        "## The busiest key and item of each table",
        "",
        f"Writes a second on the partition key that takes most (against a partition's "
        f"{QUOTAS['dynamodbPartition']['default']:,}) / on the item that takes most (against the "
        f"{QUOTAS['itemWritesTarget']} a second this design allows an item, a tenth of a partition).",
        "",
        "| table | key | " + " | ".join(f"{r:,}/s" for r in RATES) + " | why |",
        "| --- | --- | " + " | ".join("---:" for _ in RATES) + " | --- |",
    ]
    partition, item_target = QUOTAS["dynamodbPartition"]["default"], QUOTAS["itemWritesTarget"]
    for index, (table, key, _, _, why) in enumerate(busiest_keys(per_order, 1, LANES)):
        cells = []
        for rate in RATES:
            _, _, on_key, on_item, _ = busiest_keys(per_order, rate, LANES)[index]
            cells.append(f"{_mark(on_key, partition)} / {_mark(on_item, item_target)}")
        lines.append(f"| {table} | {key} | " + " | ".join(cells) + f" | {why} |")
    inventory = per_order["writeUnitsByTable"].get(INVENTORY.logical_id, 0)
    marker_units = per_order["writeUnitsByTable"].get(ANALYTICS_EVENTS.logical_id, 1)
    lines += [
        "",
        "**The one accepted limit: a hot product.** Every reservation of a product updates its one stock "
        "item in a transaction, conditional on the stock left, so a product sells at most "
        f"{QUOTAS['dynamodbPartition']['default'] / max(inventory, 1):,.0f} orders a second (a partition's "
        f"{QUOTAS['dynamodbPartition']['default']:,} write units at {inventory:.0f} an order), fewer when "
        "reservations of it overlap (concurrent transactions on one item are refused and retried). Splitting "
        "its stock over several items would lift that, at the price of reservations that can fail while stock "
        "is left in another item. Orders spread over many products do not meet it.",
        "",
        f"**Analytics lanes.** Each lane's partition key takes 1/{LANES} of the markers. Past about "
        f"{QUOTAS['dynamodbPartition']['default'] * LANES / max(marker_units, 1):,.0f} "
        "orders a second a lane outgrows a partition: raise `LANES` (lambdas/analytics/counters.py) on a new table. "
        "More lanes cost more counter updates a folded batch; one order at a time, 64 lanes measured 2.8 write "
        "units an order on AnalyticsDaily against 0.4 with 8 (`make bench`, 2026-11-29).",
        "",
    ]
    return "\n".join(lines)


def _mark(value: float, quota: float) -> str:
    text = f"{value:,.0f}" if value >= 10 else f"{value:,.1f}"
    return f"**{text}**" if value > quota else text


def reservation_lines(results: dict) -> list[str]:
    """What each stage reserves for each consumer, from this model (infra/config.py)."""
    from infra.config import RESERVED_HEADROOM, StageConfig, reserved_for

    measured = reservations(results)["perOrderPerSecond"]
    figures, estimated, unsized = {}, set(), []
    for spec in CONSUMERS:  # measured, else the spec's estimate (infra/consumers.py)
        try:
            figures[spec.name] = spec.concurrency_per_order(measured)
        except NotSized:
            unsized.append(spec.name)
            continue
        if spec.name not in measured:
            estimated.add(spec.name)
    prod = StageConfig.for_stage("prod")
    target = prod.target_orders_per_second
    assert target is not None, "prod reserves concurrency for a target rate"
    reserved = {name: reserved_for(per, target) for name, per in figures.items()}
    account, unreserved = QUOTAS["lambdaConcurrency"]["default"], QUOTAS["lambdaConcurrency"]["unreservedMinimum"]
    lines = [
        "## Reserved concurrency",
        "",
        f"Each consumer's reservation comes out of this model: `make capacity` writes its concurrency for each "
        f"order a second to [infra/concurrency.json](../infra/concurrency.json), and the stage reserves that at "
        f"its target rate, {RESERVED_HEADROOM} times over for bursts (`StageConfig.reserved_concurrency`). prod "
        f"targets {target} orders a second:",
        "",
        "| consumer | concurrency an order a second | reserved in prod |",
        "| --- | ---: | ---: |",
    ]
    estimate = " (not measured: its spec's estimate)"
    lines += [
        f"| {name} | {figures[name]:.3f}{estimate if name in estimated else ''} | {reserved[name]} |"
        for name in sorted(figures, key=lambda n: -figures[n])
    ]
    lines += [f"| {name} | not measured, no estimate: prod does not synthesize | - |" for name in unsized]
    total = sum(reserved.values())
    per_rate = sum(figures.values()) * RESERVED_HEADROOM
    lines += [
        f"| **total** | {sum(figures.values()):.3f} | **{total}** |",
        "",
        f"That leaves {account - total:,} of a new account's {account:,} for the APIs, the stream readers and "
        f"everything else (AWS keeps at least {unreserved} unreserved). A reservation is a guarantee and a cap: "
        f"past twice the target, deliveries are throttled and retried. A target of 1,000 orders a second reserves "
        f"about {per_rate * 1000:,.0f}: it needs the account's concurrency raised to at least "
        f"{per_rate * 1000 + unreserved:,.0f} first (the reservations and the {unreserved} unreserved the APIs and "
        "the stream readers run in, enough for them at that rate in the table above), then "
        "`target_orders_per_second` set in infra/config.py.",
    ]
    return lines


def reservations(results: dict) -> dict:
    """What infra/concurrency.json holds: each consumer's concurrent executions for each order a
    second, on the happy path (StageConfig.reserved_concurrency multiplies it by the stage's target)."""
    per_function = concurrency(results["endToEnd"]["perOrder"])
    # Only what the benchmark measured: a consumer it did not run keeps its spec's estimate (or
    # fails to synthesize), never a reservation sized from nothing.
    return {
        "generatedBy": "make capacity (bench/capacity.py)",
        "benchmark": f"{results['when']}, commit {results['commit']}",
        "perOrderPerSecond": {name: round(per_function[name], 4) for name in CONSUMER_NAMES if name in per_function},
    }


def main(argv: list[str] | None = None) -> int:
    results = json.loads((DOCS / "performance" / "results.json").read_text())
    (DOCS / "SCALING.md").write_text(scaling_page(results))
    CONCURRENCY_FILE.write_text(json.dumps(reservations(results), indent=2) + "\n")
    print(
        f"wrote {DOCS / 'SCALING.md'} and {CONCURRENCY_FILE.relative_to(ROOT)} from the benchmark of {results['when']}"
    )
    unmeasured = [name for name in CONSUMER_NAMES if name not in reservations(results)["perOrderPerSecond"]]
    if unmeasured:
        print(
            f"not in that benchmark: {', '.join(unmeasured)}; their reservations use their specs' estimates "
            "(infra/consumers.py), or prod refuses to synthesize: run `make bench`",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
