"""`make bench` (python -m bench): every figure in one run, printed as a table, written to a
results file, and (with --docs) to docs/PERFORMANCE.md with its plots.

    python -m bench                         # 200 orders, 5 cold starts, 50 events per consumer
    python -m bench --orders 5 --repeat 1 --events 3 --out /tmp/bench   # the test's tiny run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import ROOT, coldstart, flow, warm

DOCS = ROOT / "docs"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def run(args) -> dict:
    started = time.monotonic()
    prices = json.loads((ROOT / "bench" / "prices.json").read_text())
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "coldStart": coldstart.measure(args.repeat),
        "warm": warm.measure(args.events),
        "endToEnd": flow.run(args.orders, workers=args.workers, metered=min(args.orders, 20)),
    }
    costs = flow.cost_per_million(results["endToEnd"]["perOrder"], prices)
    results["costPerMillionOrders"] = {"byService": {k: round(v, 2) for k, v in costs.items()},
                                       "total": round(sum(costs.values()), 2), "prices": prices["asOf"]}
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def table(results: dict) -> str:
    cold, hot, e2e, cost = results["coldStart"], results["warm"], results["endToEnd"], results["costPerMillionOrders"]
    lines = [f"Benchmark {results['when']} on {results['machine']} (commit {results['commit']})", "",
             f"1. Cold start: import + module init, median of {cold['repeat']}; baseline (boto3 + one client) "
             f"{cold['baselineMs']} ms; code asset {cold['assetBytes'] / 1024:.0f} KiB (zipped)",
             f"   {'function':24} {'ms':>8} {'x baseline':>11}"]
    for name, figures in sorted(cold["functions"].items(), key=lambda item: -item[1]["medianMs"]):
        lines.append(f"   {name:24} {figures['medianMs']:8.1f} {figures['ratio']:11.2f}")
    lines += ["", "2. Warm CPU per event (moto in-process), median; minimal = the same AWS calls, nothing else",
              f"   {'consumer':24} {'ms':>8} {'minimal ms':>11} {'ratio':>7} {'calls':>6}"]
    for name, figures in hot.items():
        lines.append(f"   {name:24} {figures['cpuMsPerEvent']:8.2f} {figures['minimalCpuMsPerEvent']:11.2f} "
                     f"{figures['ratio']:7.2f} {figures['awsCallsPerEvent']:6}")
    latency = e2e["latencyMs"]
    unloaded = e2e["unloaded"]
    lines += ["", f"3. End to end on the local cloud: {e2e['orders']} orders, {e2e['clientWorkers']} concurrent clients",
              f"   {e2e['ordersPerSecond']} orders/s; POST /orders -> ORDER_COMPLETED p50 {latency['p50']} ms, "
              f"p95 {latency['p95']} ms, max {latency['max']} ms",
              f"   one order at a time ({unloaded['orders']} orders): p50 {unloaded['latencyMs']['p50']} ms, "
              f"p95 {unloaded['latencyMs']['p95']} ms",
              "", f"4. Cost per million orders on AWS ({cost['prices']} list prices, us-east-1), from what the "
                  f"{unloaded['orders']} one-at-a-time orders caused"]
    per = e2e["perOrder"]
    lines.append(f"   per order: {per['lambdaInvocations']:.1f} Lambda invocations, {per['lambdaGbSeconds']:.2f} GB-s "
                 f"(local durations), {per['eventBridgeEvents']:.1f} events, {per['dynamodbWriteUnits']:.1f} WRU, "
                 f"{per['dynamodbReadUnits']:.1f} RRU, {per['sqsRequests']:.1f} SQS requests")
    for service, dollars in cost["byService"].items():
        lines.append(f"   {service:24} ${dollars:10.2f}")
    lines.append(f"   {'total':24} ${cost['total']:10.2f}")
    return "\n".join(lines)


def plots(results: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    latencies = results["endToEnd"]["latenciesMs"]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.hist(latencies, bins=30, color="#4c72b0")
    for label, value in (("p50", results["endToEnd"]["latencyMs"]["p50"]), ("p95", results["endToEnd"]["latencyMs"]["p95"])):
        axis.axvline(value, color="#c44e52", linestyle="--")
        axis.text(value, axis.get_ylim()[1] * 0.9, f" {label}", color="#c44e52")
    axis.set_xlabel("POST /orders -> ORDER_COMPLETED (ms), local cloud")
    axis.set_ylabel("orders")
    axis.set_title(f"Latency of {len(latencies)} orders")
    figure.tight_layout()
    figure.savefig(folder / "latency.png", dpi=110)
    plt.close(figure)

    costs = results["costPerMillionOrders"]["byService"]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    names = list(costs)
    axis.barh(names, [costs[n] for n in names], color="#55a868")
    axis.set_xlabel("USD per million orders")
    axis.set_title(f"Cost per million orders: ${results['costPerMillionOrders']['total']:.2f}")
    axis.invert_yaxis()
    figure.tight_layout()
    figure.savefig(folder / "cost.png", dpi=110)
    plt.close(figure)


def performance_page(results: dict) -> str:
    return f"""# Performance

Measured by `make bench` ({results['when']}, commit {results['commit']}) on {results['machine']}:
one run, every figure a median of repeated measurements. The raw figures are in
[performance/results.json](performance/results.json).

```
{table(results)}
```

![Latency distribution](performance/latency.png)

![Cost per million orders](performance/cost.png)

How to read these:

- **Cold start** is the time to import a handler module and run its module-level code in a
  fresh interpreter with the function's environment (tracing on), against a function that
  only imports boto3 and creates one client. Interpreter start-up and the Lambda runtime's
  own start are not in it. Every function shares one code asset.
- **Warm CPU per event** is measured with moto serving the AWS calls in-process, so it
  includes moto's own work on both sides; the *minimal* handler makes the same calls with a
  plain client and nothing else. What the ratio shows is what parsing, validation, logging,
  metrics, tracing and Powertools idempotency add. The idempotency records are made through
  Powertools' own client and are not replayed by the minimal handler: their cost is in the ratio.
- **End to end** runs on the local cloud on this machine (MiniStack, every function a local
  process, its stream poller waking about once a second), after a warm-up of
  {flow.WARM_UP} orders: the latency is the emulator's, not AWS's, and it is the ratio between
  runs that means something.
- **Cost** multiplies what one order caused in that run, counted inside the local cloud
  (`localcloud/meter.py`: Lambda invocations and their durations, EventBridge entries in 64 KB
  chunks, DynamoDB request units from item sizes, transactions at twice the units, SQS
  requests), by the list prices in `bench/prices.json` (source and date inside). The Lambda
  durations are the local ones, measured on orders sent one at a time so that they do not
  include waiting for a free worker; CloudWatch Logs, X-Ray and data transfer are not counted.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4, help="concurrent API clients")
    parser.add_argument("--repeat", type=int, default=5, help="cold starts per function")
    parser.add_argument("--events", type=int, default=50, help="warm events per consumer")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the results file goes")
    parser.add_argument("--docs", action="store_true", help="also write docs/PERFORMANCE.md and its plots")
    args = parser.parse_args(argv)

    results = run(args)
    print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nresults: {args.out / 'results.json'} ({results['seconds']} s)")
    if args.docs:
        plots(results, DOCS / "performance")
        (DOCS / "performance" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (DOCS / "PERFORMANCE.md").write_text(performance_page(results))
        print(f"wrote {DOCS / 'PERFORMANCE.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
