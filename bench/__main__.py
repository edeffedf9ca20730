"""`make bench` (python -m bench): every figure in one run, printed as a table, written to a
results file, and (with --docs) to docs/PERFORMANCE.md with its plots.

    python -m bench                         # the load curve, 20 + 40 metered orders, 5 cold starts, 50 events
    python -m bench --rates 1,2 --step-seconds 3 --metered 3 --mixed 4 --repeat 1 --events 2 --out /tmp/bench
                                            # the test's tiny run (tests/bench/conftest.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ROOT, bill, capacity, coldstart, flow, load, tracing, warm
from infra.consumers import PUBLISHER

DOCS = ROOT / "docs"
PRICES = json.loads((ROOT / "bench" / "prices.json").read_text())


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, Python {platform.python_version()}, {platform.system()}"
    )


def commit() -> str:
    """The commit measured; "+changes" when the working tree differs from it (tracked files)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    )


def run(args) -> dict:
    started = time.monotonic()
    prices = PRICES
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": commit(),
        "coldStart": coldstart.measure(args.repeat),
        "tracing": tracing.measure(args.repeat, warm=args.events),
        "warm": warm.measure(args.events),
        "endToEnd": flow.run(args.rates, args.step_seconds, metered=args.metered, mixed=args.mixed),
    }
    results["bill"] = bill_of(results["endToEnd"], prices, results["coldStart"])
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def bill_of(e2e: dict, prices: dict, cold_start: dict) -> dict:
    """The bills (happy path, under load, a day's mix) by service, each with the INIT phases at the
    stated cold-start rate; the floor they are held against; and the INIT at three rates, with
    what SnapStart would charge instead."""
    init = bill.init_seconds(cold_start)
    floor_init = cold_start["baselineMs"] / 1000

    def bill_at(per_order: dict, rate: float = bill.COLD_START_RATE) -> dict:
        return bill.bill(per_order, prices, init=init, cold_start_rate=rate)

    happy, day = bill_at(e2e["perOrder"]), bill_at(e2e["perOrderMixed"])
    loaded = bill_at(bill.at_unloaded_durations(e2e["perOrderLoaded"], e2e["perOrder"]))
    lines = bill.floor(e2e["perOrder"], prices, floor_init)
    floor_total = sum(line.dollars for line in lines)
    cold_starts = []
    for rate in bill.COLD_START_RATES:
        at_rate = bill_at(e2e["perOrder"], rate)
        floor_at = sum(line.dollars for line in bill.floor(e2e["perOrder"], prices, floor_init, rate))
        restores, _ = bill.snapstart(e2e["perOrder"], prices, rate)
        cold_starts.append(
            {
                "rate": rate,
                "init": round(at_rate["Lambda INIT"], 2),
                "initThrottled": round(
                    bill.lambda_init(e2e["perOrder"], init, prices, rate, throttled=True)[1] * bill.MILLION, 2
                ),
                "platformHappy": round(bill.platform_total(at_rate), 2),
                "ratioHappy": round(bill.platform_total(at_rate) / floor_at, 2),
                "snapStartRestores": round(restores * bill.MILLION, 2),
            }
        )
    return {
        "prices": prices["asOf"],
        "coldStartRate": bill.COLD_START_RATE,
        "coldStarts": cold_starts,
        "snapStartCacheMonth": round(bill.snapstart(e2e["perOrder"], prices)[1], 2),
        "snapStartBreakEvenSeconds": round(bill.snapstart_break_even_seconds(prices), 1),
        "happy": {k: round(v, 2) for k, v in happy.items()},
        "loaded": {k: round(v, 2) for k, v in loaded.items()},
        "mixed": {k: round(v, 2) for k, v in day.items()},
        "platformHappy": round(bill.platform_total(happy), 2),
        "platformLoaded": round(bill.platform_total(loaded), 2),
        "platformMixed": round(bill.platform_total(day), 2),
        "floor": [
            {
                "service": line.service,
                "count": round(line.count, 3),
                "unit": line.unit,
                "dollars": round(line.dollars, 2),
                "why": line.why,
            }
            for line in lines
        ],
        "floorTotal": round(floor_total, 2),
        "ratioHappy": round(bill.platform_total(happy) / floor_total, 2),
        "ratioLoaded": round(bill.platform_total(loaded) / floor_total, 2),
        "ratioMixed": round(bill.platform_total(day) / floor_total, 2),
        "lambdaGbSecondsHappy": round(bill.lambda_compute(e2e["perOrder"], prices)[0], 4),
    }


def records_per_batch(per: dict) -> float:
    """Events each publisher invocation carried from the stream to the bus."""
    calls = per["functions"].get(PUBLISHER.name, {}).get("invocations", 0)
    return per["eventBridgeEvents"] / calls if calls else 0.0


def counts_lines(label: str, per: dict) -> list[str]:
    lines = [
        f"   {label}: {per['apiRequests']:.2f} API requests, {per['lambdaInvocations']:.1f} Lambda invocations, "
        f"{per['eventBridgeEvents']:.1f} events ({per['putEventsCalls']:.1f} PutEvents calls), "
        f"{per['dynamodbWriteUnits']:.1f} WRU ({per['dynamodbIndexWriteUnits']:.1f} to indexes, "
        f"{per['dynamodbRefusedWriteUnits']:.1f} refused), {per['dynamodbReadUnits']:.1f} RRU, "
        f"{per['dynamodbRequests']:.1f} DynamoDB requests, {per['sqsRequests']:.1f} SQS requests, "
        f"{per['emails']:.2f} emails, {per['logBytes'] / 1024:.1f} KiB of logs ({per['logEvents']:.0f} lines), "
        f"{per['archivedBytes'] / 1024:.1f} KiB archived, {bill.traces(per, PRICES):.2f} X-Ray traces recorded"
    ]
    lines.append(
        f"   {'function':24} {'calls':>6} {'cpu ms':>7} {'wall ms':>8} {'MB':>5} {'peak MB':>8} {'billed ms':>10}"
    )
    for name, f in sorted(per["functions"].items(), key=lambda item: -item[1]["invocations"]):
        calls = f["invocations"] or 1
        billed = (
            bill.billed_seconds(f["cpuSeconds"], f["wallSeconds"], f["memoryMb"], PRICES, f.get("queuedSeconds", 0.0))
            / calls
            * 1000
        )
        lines.append(
            f"   {name:24} {f['invocations']:6.2f} {f['cpuSeconds'] / calls * 1000:7.1f} "
            f"{f['wallSeconds'] / calls * 1000:8.1f} {f['memoryMb']:5} {f['peakRssMb']:8.0f} {billed:10.1f}"
            + (" arm64" if f["arm64"] else "")
        )
    lines.append("   write units by table: " + ", ".join(f"{t} {u:.1f}" for t, u in per["writeUnitsByTable"].items()))
    lines.append(
        "   DynamoDB requests: " + ", ".join(f"{o} {n:.1f}" for o, n in per["dynamodbRequestsByOperation"].items())
    )
    return lines


def table(results: dict) -> str:
    cold, hot, e2e, cost = results["coldStart"], results["warm"], results["endToEnd"], results["bill"]
    lines = [
        f"Benchmark {results['when']} on {results['machine']} (commit {results['commit']})",
        "",
        f"1. Cold start, fresh interpreters with the Lambda environment, median [min-max] of {cold['repeat']}; "
        f"code asset {cold['assetBytes'] / 1024:.0f} KiB (zipped)",
        "   import: the handler's module; first answer: import, then the first event handled (its AWS calls "
        "on a local moto server)",
        f"   baseline: import boto3, one client ({cold['baselineMs']} ms), and as many GetItem calls as the "
        f"function's first event made ("
        + ", ".join(f"{n}: {b['medianMs']} ms" for n, b in cold["baseline"].items())
        + ")",
        "   libraries: the same, after importing pydantic and Powertools' Logger, what every function is "
        "built on ("
        + ", ".join(f"{n}: {b['medianMs']} ms, {b['ratio']:.2f}x" for n, b in cold.get("libraries", {}).items())
        + ")",
        f"   {'function':24} {'import ms':>20} {'x':>6} {'first answer ms':>20} {'calls':>6} {'x baseline':>11} "
        f"{'x libraries':>12}",
    ]
    for name, figures in sorted(cold["functions"].items(), key=lambda item: -item[1]["ratio"]):
        imported, answered = figures["import"], figures["firstAnswer"]
        lines.append(
            f"   {name:24} {imported['medianMs']:7.1f} [{imported['minMs']:5.0f}-{imported['maxMs']:5.0f}] "
            f"{figures['importRatio']:6.2f} {answered['medianMs']:7.1f} [{answered['minMs']:5.0f}-"
            f"{answered['maxMs']:5.0f}] {figures['calls']:6} {figures['ratio']:11.2f} "
            f"{figures.get('librariesRatio', float('nan')):12.2f}"
        )
    if "profile" in cold:
        profile, base = cold["profile"]["importsByPackage"], cold["profile"]["baselineImportsByPackage"]
        lines += [
            f"   where {cold['profile']['function']}'s import goes (python -X importtime, one run, ms of each "
            f"package's own modules; the baseline's beside):",
            "   "
            + ", ".join(
                f"{package} {ms:.0f} ({base.get(package, 0):.0f})" for package, ms in list(profile.items())[:12]
            ),
        ]
    lines += [
        "",
        "2. Warm CPU per event (moto in-process), median; minimal = the same AWS calls, nothing else",
        f"   {'consumer':24} {'ms':>8} {'minimal ms':>11} {'ratio':>7} {'calls':>6}",
    ]
    for name, figures in hot.items():
        lines.append(
            f"   {name:24} {figures['cpuMsPerEvent']:8.2f} {figures['minimalCpuMsPerEvent']:11.2f} "
            f"{figures['ratio']:7.2f} {figures['awsCallsPerEvent']:6}"
        )
    unloaded = e2e["unloaded"]
    lines += [
        "",
        f"3. End to end on the local cloud: steady arrival rates (locust, ID tokens), {e2e['stepSeconds']:g} s each; "
        "each order from its POST to its ORDER_COMPLETED",
        f"   {'orders/s':>8} {'sent/s':>7} {'done/s':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'errors':>7} "
        f"{'POST p50 ms':>12}",
    ]
    for row in e2e["loadCurve"]:
        latency = row["latencyMs"] or {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
        lines.append(
            f"   {row['rate']:8} {row['sentPerSecond']:7.2f} {row['completedPerSecond']:7.2f} "
            f"{latency['p50']:9.1f} {latency['p95']:9.1f} {latency['p99']:9.1f} {row['errorRate']:7.1%} "
            f"{row['postP50Ms'] or float('nan'):12.1f}"
        )
    lines += [
        f"   kept up with (done/s >= {load.KEPT_UP:.0%} of sent/s, no errors, p95 within {load.BEND:g}x the "
        f"rate before's): {load.saturation(e2e['loadCurve'])} orders/s",
        f"   one order at a time ({unloaded['orders']} orders, ORDER_CREATED -> ORDER_COMPLETED): "
        f"p50 {unloaded['latencyMs']['p50']} ms, p95 {unloaded['latencyMs']['p95']} ms",
    ]
    mixed = e2e["perOrderMixed"]
    lines += [
        "",
        f"4. The bill of an order on AWS, per million orders ({cost['prices']} list prices, us-east-1; "
        f"stage {e2e['stage']}), counted in the local cloud",
        f"   happy path: {e2e['unloaded']['orders']} orders one at a time; under load: the "
        f"{loaded_orders(e2e)} orders of part 3, their counts "
        f"({records_per_batch(e2e['perOrderLoaded']):.1f} events a publisher batch) "
        f"at the durations measured one at a time; a day's mix: {mixed['mix']} with "
        f"{mixed['transientFaultRate']:.0%} transient faults, ending {mixed['outcomes']}",
    ]
    lines += counts_lines("happy path, per order", e2e["perOrder"])
    lines += counts_lines("under load, per order (durations as measured under load)", e2e["perOrderLoaded"])
    lines += counts_lines("a day's mix, per order", mixed)
    lines += ["", f"   {'service':24} {'happy':>10} {'loaded':>10} {'mixed':>10}"]
    for service in cost["happy"]:
        if service != bill.SES:
            lines.append(
                f"   {service:24} ${cost['happy'][service]:9.2f} ${cost['loaded'][service]:9.2f} "
                f"${cost['mixed'][service]:9.2f}"
            )
    lines += [
        f"   {'platform total':24} ${cost['platformHappy']:9.2f} ${cost['platformLoaded']:9.2f} "
        f"${cost['platformMixed']:9.2f}",
        f"   {bill.SES:24} ${cost['happy'][bill.SES]:9.2f} ${cost['loaded'][bill.SES]:9.2f} "
        f"${cost['mixed'][bill.SES]:9.2f}",
        f"   cold starts (INIT, billed since 2025-08-01), the bill at {cost['coldStartRate']:.0%} of invocations: "
        + "; ".join(
            f"at {row['rate']:.1%} INIT ${row['init']:.2f}, platform ${row['platformHappy']:.2f} "
            f"({row['ratioHappy']:.2f}x its floor), SnapStart's restores instead ${row['snapStartRestores']:.2f}"
            for row in cost["coldStarts"]
        ),
        f"   SnapStart: ${cost['snapStartCacheMonth']:.2f} a month of cache, and a restore costs more than the "
        f"INIT it saves for any init under {cost['snapStartBreakEvenSeconds']:.1f} s (arm64)",
        "",
        "5. The floor: the fewest billable requests this design needs (per order)",
    ]
    for line in cost["floor"]:
        lines.append(f"   {line['service']:24} {line['count']:10.3f} {line['unit']:12} ${line['dollars']:9.2f}")
    lines += [
        f"   {'floor total':24} {'':23} ${cost['floorTotal']:9.2f}",
        f"   the platform's bill is {cost['ratioHappy']:.2f}x the floor on the happy path one order at a "
        f"time, {cost['ratioLoaded']:.2f}x under load, {cost['ratioMixed']:.2f}x on a day's mix",
    ]
    if "tracing" in results:
        traced = results["tracing"]
        lines += [
            "",
            f"6. Tracing options: a function making {traced['calls']} GetItem calls an invocation, traced each "
            f"way (bench/tracing.py); median of {traced['repeat']} cold starts and of "
            f"{traced['warmInvocations']} warm invocations; x: to active tracing alone",
        ]
        for option, f in traced["options"].items():
            sent = ", ".join(f"{n:g} {kind}" for kind, n in f["sentPerInvocation"].items() if n) or "nothing"
            lines.append(
                f"   {option:14} import {f['importMs']:6.1f} ms {f['importRatio']:5.2f}x   first answer "
                f"{f['answerMs']:6.1f} ms {f['answerRatio']:5.2f}x   warm CPU {f['warmCpuMs']:5.2f} ms "
                f"{f['warmCpuRatio']:5.2f}x   sends {sent} an invocation"
            )
    return "\n".join(lines)


def coldstart_section(results: dict) -> str:
    """Cold to the first answer, against the run kept in performance/coldstart-before.json (the
    first with this measure, before the cuts)."""
    path = DOCS / "performance" / "coldstart-before.json"
    before = json.loads(path.read_text()) if path.exists() else None
    cold = results["coldStart"]["functions"]
    lines = [
        "The time from a fresh interpreter to a function's first answer, as a multiple of a bare boto3 "
        "function making as many calls (part 1)"
        + (
            f"; *before* is commit {before['commit']} ({before['when']}), the first run of this measure, before "
            "the cuts below"
            if before
            else ""
        )
        + ".",
        "",
        "| function | before | now | import, before | import, now | now, x the libraries |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in sorted(cold, key=lambda n: -cold[n]["ratio"]):
        was = (before["coldStart"]["functions"].get(name) if before else None) or {}
        ratio, import_ratio = (f"{was[key]:.2f}x" if key in was else "-" for key in ("ratio", "importRatio"))
        lines.append(
            f"| {name} | {ratio} | {cold[name]['ratio']:.2f}x | {import_ratio} | "
            f"{cold[name]['importRatio']:.2f}x | {cold[name].get('librariesRatio', float('nan')):.2f}x |"
        )
    libraries = results["coldStart"].get("libraries", {})
    if libraries:
        one, base = libraries.get("1") or next(iter(libraries.values())), results["coldStart"]["baseline"]
        own = [f["librariesRatio"] for f in cold.values() if "librariesRatio" in f]
        lines += [
            "",
            f"**The floor of this design's cold start.** A function that imports only the libraries every "
            f"function here is built on, as they use them (pydantic; Powertools' Logger), and makes one call, "
            f"first answers in {one['medianMs']:.0f} ms: "
            f"**{one['ratio']:.2f}x** the bare boto3 function ({base['1']['medianMs']:.0f} ms). The platform's "
            f"functions answer in {min(own):.2f}x to {max(own):.2f}x of that (the last column: what their own "
            f"code costs; the publisher, which validates no model, is under it). A first answer within 1.3x "
            f"(or 1.5x) of bare boto3 is below what these libraries cost before any code of ours runs: it needs "
            f"a function without them on its cold path, or SnapStart on AWS, which restores past the init "
            f"(below).",
        ]
    lines += [
        "",
        "The cuts: no tracing SDK in any function (Lambda's active tracing alone: *Tracing*, below); "
        "before, the X-Ray SDK patched only botocore (its default patches every library it knows, importing "
        "each first: about 20 ms); the catalog's pydantic models are built when first used "
        "(`defer_build`), so a function builds the envelope and the payloads it meets, not all 20; custom "
        "metrics are created only in the one function that publishes them; one boto3 client per service per "
        "process (`common/clients.py`), shared by the event store, the stock, the audit log and the rest; "
        "the modules that define pydantic models leave out `from __future__ import annotations` (with it, "
        "every field's annotation is a string that pydantic compiles and evaluates when the class is "
        "made: about 20 ms across the catalog). "
        "The measure itself was fixed "
        "first: the runs before it lacked LAMBDA_TASK_ROOT, so the X-Ray SDK took its server path and built "
        "an X-Ray client at import (about 100 ms that no Lambda function pays); the import ratios reported "
        "then (1.87x to 2.11x) were mostly that.",
    ]
    return "\n".join(lines)


def snapstart_section(results: dict) -> str:
    """What SnapStart would cost the API functions, and why prod does not turn it on."""
    from infra.constructs.platform_function import API_MEMORY_MB
    from infra.consumers import HTTP_SERVICES

    snap = PRICES["lambda"]["snapStart"]
    gb = API_MEMORY_MB / 1024
    month = 30 * 24 * 3600
    cache_month = gb * month * snap["cachePerGbSecond"]
    apis = [service.name for service in HTTP_SERVICES]
    cold = results["coldStart"]["functions"]
    imports = [cold[name]["import"]["medianMs"] for name in apis if name in cold]
    return (
        f"Lambda can snapshot an API function after its init, when a version is published, and restore new "
        f"environments from the snapshot instead of running the init again (Python 3.12 and later). At "
        f"{API_MEMORY_MB} MB it would cost ${cache_month:.2f} a month for each published version of each of the "
        f"{len(apis)} API functions, kept while the version is active (${snap['cachePerGbSecond']:.10f} a "
        f"GB-second), and ${gb * snap['restorePerGb'] * 1e6:.0f} a million restores (one a cold start, not a request) "
        f"([bench/prices.json](../bench/prices.json)): more than the INIT it saves (above), small beside the "
        f"bill. It needs a published version "
        f"and an alias for every function, API Gateway integrated with the alias (each deploy publishes a new "
        f"version and snapshot), and init code that is safe to resume many times: nothing unique or connected "
        f"made before the snapshot (our handlers build their clients on first use, and draw ids per request; "
        f"Powertools holds no connection at init). What it saves is the init, here "
        f"{min(imports):.0f}-{max(imports):.0f} ms of imports, less the restore, which AWS reports per "
        f"invocation (Restore Duration) and which cannot be measured here: the local cloud has no SnapStart. "
        f"prod leaves it off until a deploy to AWS measures Restore Duration against Init Duration for these "
        f"functions; the figures to compare are both in each cold start's REPORT record."
    )


def memory_table(results: dict) -> str:
    from infra.constructs.platform_function import API_MEMORY_MB

    runs = [results["endToEnd"][key]["functions"] for key in ("perOrder", "perOrderMixed", "perOrderLoaded")]
    cold = results["coldStart"]["functions"]
    lines = [
        "| function | memory MB | max memory used MB | used | init ms (import) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in sorted({name for run in runs for name in run} | set(cold)):
        metered = [run[name] for run in runs if name in run]
        init = cold.get(name, {}).get("medianMs")
        if metered:
            memory, used = max(f["memoryMb"] for f in metered), max(f["peakRssMb"] for f in metered)
            figures = f"{memory} | {used:.0f} | {used / memory:.0%}"
        else:
            figures = f"{API_MEMORY_MB} | - | -"  # an API the metered runs do not call
        lines.append(f"| {name} | {figures} | {f'{init:.0f}' if init else '-'} |")
    return "\n".join(lines)


def loaded_orders(e2e: dict) -> int:
    return sum(row["orders"] for row in e2e["loadCurve"])


def plots(results: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    rows = [row for row in results["endToEnd"]["loadCurve"] if row["latencyMs"]]
    rates = [row["rate"] for row in rows]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(10, 3.8))
    for q, color in (("p50", "#4c72b0"), ("p95", "#dd8452"), ("p99", "#c44e52")):
        latency.plot(rates, [row["latencyMs"][q] / 1000 for row in rows], marker="o", color=color, label=q)
    latency.set_yscale("log")
    latency.set_xlabel("orders a second, offered")
    latency.set_ylabel("POST -> ORDER_COMPLETED (s)")
    latency.set_title("Latency")
    latency.legend()
    throughput.plot(rates, [row["sentPerSecond"] for row in rows], marker="o", color="#8c8c8c", label="sent")
    throughput.plot(rates, [row["completedPerSecond"] for row in rows], marker="o", color="#55a868", label="completed")
    throughput.set_xlabel("orders a second, offered")
    throughput.set_ylabel("orders a second")
    throughput.set_title("Throughput")
    throughput.legend()
    saturation = load.saturation(results["endToEnd"]["loadCurve"])
    if saturation:
        for axis in (latency, throughput):
            axis.axvline(saturation, color="#8c8c8c", linestyle=":")
    figure.suptitle("Steady arrival rates on the local cloud (2 cores shared by everything)")
    figure.tight_layout()
    figure.savefig(folder / "load.png", dpi=110)
    plt.close(figure)

    cost = results["bill"]
    baseline = load_baseline()
    floor = {line["service"]: line["dollars"] for line in cost["floor"]}
    names = [n for n in cost["happy"] if n != bill.SES]
    series = ([("before", baseline["bill"]["happy"], "#c44e52")] if baseline else []) + [
        ("now, happy path", cost["happy"], "#55a868"),
        ("now, under load", cost["loaded"], "#dd8452"),
        ("now, a day's mix", cost["mixed"], "#8172b2"),
        ("floor", floor, "#4c72b0"),
    ]
    figure, axis = plt.subplots(figsize=(8, 4.8))
    height = 0.8 / len(series)
    for i, (label, values, color) in enumerate(series):
        axis.barh(
            [y + i * height for y in range(len(names))],
            [values.get(n, 0) for n in names],
            height,
            label=label,
            color=color,
        )
    axis.set_yticks([y + height * (len(series) - 1) / 2 for y in range(len(names))], names)
    axis.invert_yaxis()
    axis.set_xlabel("USD per million orders (SES apart)")
    before = f"${baseline['bill']['platformHappy']:.2f} before, " if baseline else ""
    axis.set_title(
        f"The bill per million orders: {before}${cost['platformHappy']:.2f} now, floor ${cost['floorTotal']:.2f}"
    )
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(folder / "cost.png", dpi=110)
    plt.close(figure)


BASELINE = DOCS / "performance" / "baseline.json"


def load_baseline() -> dict | None:
    """The bill measured on the commit before the cost work (scripts/bench_baseline.sh)."""
    return json.loads(BASELINE.read_text()) if BASELINE.exists() else None


def bill_table(results: dict) -> str:
    cost, baseline = results["bill"], load_baseline()
    head = (
        "| service | "
        + (f"before ({baseline['commit']}) | " if baseline else "")
        + "happy path | under load | a day's mix | floor |"
    )
    lines = [head, "| --- | " + ("---: | " if baseline else "") + "---: | ---: | ---: | ---: |"]
    floor = {line["service"]: line["dollars"] for line in cost["floor"]}
    for service in cost["happy"]:
        if service == bill.SES:
            continue
        was = baseline["bill"]["happy"].get(service) if baseline else None  # a line the old bill had not: "-"
        before = ("-" if was is None else f"${was:.2f}") + " | " if baseline else ""
        lines.append(
            f"| {service} | {before}${cost['happy'][service]:.2f} | ${cost['loaded'][service]:.2f} | "
            f"${cost['mixed'][service]:.2f} | {f'${floor[service]:.2f}' if service in floor else '-'} |"
        )
    before = f"**${baseline['bill']['platformHappy']:.2f}** | " if baseline else ""
    lines.append(
        f"| **platform** | {before}**${cost['platformHappy']:.2f}** | **${cost['platformLoaded']:.2f}** | "
        f"**${cost['platformMixed']:.2f}** | **${cost['floorTotal']:.2f}** |"
    )
    before = f"{baseline['bill']['ratioHappy']:.2f}x | " if baseline else ""
    lines.append(
        f"| to the floor | {before}{cost['ratioHappy']:.2f}x | {cost['ratioLoaded']:.2f}x | "
        f"{cost['ratioMixed']:.2f}x | 1x |"
    )
    before = f"${baseline['bill']['happy'][bill.SES]:.2f} | " if baseline else ""
    lines.append(
        f"| {bill.SES}, apart | {before}${cost['happy'][bill.SES]:.2f} | ${cost['loaded'][bill.SES]:.2f} | "
        f"${cost['mixed'][bill.SES]:.2f} | - |"
    )
    return "\n".join(lines)


def cold_start_table(results: dict) -> str:
    cost = results["bill"]
    lines = [
        "| cold starts | INIT | INIT, if throttled to the CPU share | platform | to the floor | "
        "SnapStart's restores instead |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in cost["coldStarts"]:
        stated = " (stated)" if row["rate"] == cost["coldStartRate"] else ""
        lines.append(
            f"| {row['rate']:.1%}{stated} | ${row['init']:.2f} | ${row['initThrottled']:.2f} | "
            f"${row['platformHappy']:.2f} | {row['ratioHappy']:.2f}x | ${row['snapStartRestores']:.2f} |"
        )
    return "\n".join(lines)


def tracing_table(results: dict) -> str:
    if "tracing" not in results:
        return "(not measured in this run: `make bench` measures it)"
    traced = results["tracing"]
    lines = [
        "| option | import ms | x | first answer ms | x | warm CPU ms an invocation | x | what the function sends "
        "an invocation |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for option, f in traced["options"].items():
        sent = ", ".join(f"{n:g} {kind}" for kind, n in f["sentPerInvocation"].items() if n) or "nothing"
        lines.append(
            f"| {option} | {f['importMs']:.0f} | {f['importRatio']:.2f}x | {f['answerMs']:.0f} | "
            f"{f['answerRatio']:.2f}x | {f['warmCpuMs']:.2f} | {f['warmCpuRatio']:.2f}x | {sent} |"
        )
    return "\n".join(lines)


def floor_table(results: dict) -> str:
    lines = ["| line | per order | USD per million orders | why this much and no less |", "| --- | ---: | ---: | --- |"]
    for line in results["bill"]["floor"]:
        count = f"{line['count']:,.0f} {line['unit']}" if line["count"] >= 10 else f"{line['count']:g} {line['unit']}"
        lines.append(f"| {line['service']} | {count} | ${line['dollars']:.2f} | {line['why']} |")
    lines.append(f"| **total** | | **${results['bill']['floorTotal']:.2f}** | |")
    return "\n".join(lines)


def performance_page(results: dict) -> str:
    baseline = load_baseline()
    before = (
        (
            f"`scripts/bench_baseline.sh {baseline['commit']}` measured the commit before this work with the same "
            f"meter ({baseline['when']}): [performance/baseline.json](performance/baseline.json)."
        )
        if baseline
        else ""
    )
    return f"""# Performance

Measured by `make bench` ({results["when"]}, commit {results["commit"]}) on {results["machine"]}:
one run, every figure a median of repeated measurements. The raw figures are in
[performance/results.json](performance/results.json).

```
{table(results)}
```

## The load curve

Part 3 drives orders at steady arrival rates, one step after another, as an open model: locust
([bench/locustfile.py](../bench/locustfile.py)) runs one simulated buyer for each order a second,
each placing an order every second whatever the answers take, as one of the run's signed-in
customers (with their ID token, like any customer's app). Each order is measured from the client's POST
to its ORDER_COMPLETED in the event
store, so the figure includes the whole saga and every queue on the way. *Done/s* is the orders
completed during the step: it follows the offered rate until the platform saturates, then
flattens while the latency bends upward (the backlog grows for as long as the step lasts).

On this machine everything shares 2 cores: the load generator, the local cloud and every
function's worker. The absolute rates are this machine's; the shape is what carries over. On AWS
each function's invocations run side by side up to its concurrency, which docs/SCALING.md sizes.

![The load curve](performance/load.png)

## Cold start, before and after

{coldstart_section(results)}

### SnapStart for the API functions

{snapstart_section(results)}

### Tracing options

The X-Ray SDKs reach their end of support on 2027-02-25; the platform traces with Lambda's active
tracing alone (docs/DECISIONS.md, *Tracing*). The options, each tracing the same function (three
GetItem calls an invocation, in a fresh interpreter with the Lambda environment and a sampled
trace header; `bench/tracing.py`), against active tracing alone: the X-Ray SDK through
Powertools' Tracer, botocore patched (what every function ran before); and OpenTelemetry (the SDK,
the botocore instrumentation, X-Ray ids and propagation, spans exported by OTLP over HTTP to a
stand-in on loopback and flushed before the handler returns, as a frozen environment needs). What
each sends is counted by stand-ins for the X-Ray daemon and an OTLP endpoint; Lambda's own
segment of each invocation, the same whatever the option, is not.

{tracing_table(results)}

## Memory and init, function by function

Each function's memory size (the stage's), the most its worker used in the metered runs (the
process's peak resident set: what a REPORT line calls Max Memory Used), and its init (part 1:
importing the handler and initialising its module, what a cold start's Init Duration adds).

{memory_table(results)}

## The bill of an order

What a million orders would cost on AWS (us-east-1 list prices of {results["bill"]["prices"]}, in
[bench/prices.json](../bench/prices.json) with their sources), counted in the local cloud while the
platform ran, deployed as **prod**. {before}

{bill_table(results)}

![The bill per million orders](performance/cost.png)

### Cold starts on the bill

Since 2025-08-01 Lambda bills the INIT phase of on-demand ZIP functions on managed runtimes as it
bills an invocation ([AWS Compute Blog](https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/)).
The bill above counts it at the stated rate, {results["bill"]["coldStartRate"]:.0%} of invocations
(AWS's analysis of production workloads puts cold starts under 1%), each billed for its function's
init as part 1 measured it (the handler's import, median) at the function's memory. AWS does not
document how much CPU the INIT gets below 1,769 MB; third-party measurements find it unthrottled,
and the column beside it is the bound if it were throttled like an invocation. A bursty consumer
or a deploy raises the rate; the table gives a tenth and ten times it, happy path, per million
orders:

{cold_start_table(results)}

**SnapStart does not pay for itself here.** A restore is billed per GB of the function's memory
(${PRICES["lambda"]["snapStart"]["restorePerGb"]:.10f}) and the INIT it replaces per GB-second, so
a restore costs less than the INIT only when the init is longer than
{results["bill"]["snapStartBreakEvenSeconds"]:.1f} s on arm64, longer than the INIT phase may last
(10 s). Its cache adds ${results["bill"]["snapStartCacheMonth"]:.2f} a month for one published version
of every function. What it can buy is latency, not money (*SnapStart for the API functions*, above).

## The floor, line by line

The fewest billable requests this design needs for one order, priced the
same way. The bill is compared with it without SES: emails are what the business chooses to
send, and cost the same in any design.

{floor_table(results)}

This is the floor of this design: the order's seven events on a bus, and every event handed to
the consumers the architecture routes it to, analytics and audit included. It charges no outbox
function per order (a stream batch carries many events at scale, or EventBridge Pipes could
publish them) and writes every fact once, in 1 KB, outside any transaction: the order, the saga's
state, the payment and the reservation are their events.

**What the money's correctness costs, in this floor.** The server prices the order: one read of
the product's price (the read line). The stock means what a warehouse can use: a completed
order's units ship (INVENTORY_SHIPPED: one more event, its store, audit and analytics writes, its
hops, and the stock written again). The order shows its money: the read model is written again
with the charge. And the provider is called at most once a request, for ever: the call is
recorded before it is made (one write), because the card network deduplicates by key for a day
only, and a replay a year later must find the record, not call again. An earlier version of this
floor had none of these (six events, no read, 24 write units: $33.41 at 3d70be5).

Two of its lines are lower bounds of exactly-once, not of the domain's facts, and an earlier
version of this page left them out ($28.04, 16 write units):

- **The analytics marker, one write an event.** A consumer is handed one event at a time, at least
  once, in no order, and again by a replay of the archive; to count each exactly once it must
  remember each one it counted. A design that takes analytics off the bus and folds the audit
  log's stream a batch at a time would need a write a batch instead and no analytics hop: its
  floor would be about $6 lower, and this platform is not that design (the architecture routes
  every event to analytics).
- **The email, two writes.** SES takes no idempotency key, so a record written before sending
  cannot tell a sent email from a claim whose sender crashed before SES answered: the claim
  and the mark that it was sent are both needed, or a replay sends every email again.

The reads by which the consumers that move money, stock, read models and email check each event
against the store (the trust boundary: a forged event moves nothing) are above the floor, as
every read was; a signature checked instead would cost a KMS call an event.

## What is above the floor, and what would close it

- **DynamoDB writes.** The stock update shares a transaction with its reservation's answer (2
  units over the floor: a transaction bills each item twice). The read model's sparse `pending`
  index, which the timeout sweep reads, is written when an order is placed and when it settles
  (2 units); a per-order schedule or delayed message would cost about as much.
- **Lambda requests** include the publisher: orders sent one at a time leave the stream one
  record a batch, six invocations an order; under load a batch carries several (the *under load*
  column) and at a thousand orders a second up to 100.
- **Lambda duration**: each invocation spends 2-8 ms of CPU (parsing and validating the
  envelope, signing its requests, logging), stretched to 11 times as long at 160 MB's share of a
  vCPU, against the floor's 10 ms of waiting.
- **CloudWatch Logs**: one line per event a consumer handles, about 350 bytes with
  CloudWatch's overhead, against the floor's 326; the analytics metrics are one EMF record a
  folded batch, not one an event.
- **DynamoDB reads**, besides the price: the saga reads the order's streams, strongly consistent,
  at each step, Email the order's customer, and the consumers that act only on the store's events
  read each one's stored copy.
- **X-Ray** is not in the floor: tracing is a choice. One trace an order is started (its POST)
  and recorded at the default rule's 5%; a sampling rule below 5% cuts it in proportion.

## Choices made for the bill

- **Exactly-once from the effect's own condition, with no idempotency record.** The read model
  (its version), the audit log (its key ends in the eventId), the analytics marker, the saga, the
  stock reservation and the payment (each its own stream in the event store, each command or
  answer a version written only if absent) and the email (its `sent#<eventId>` record, claimed
  before SES and marked SENT after). The simulated card network answers a charge repeated under
  the same key (the order) with the first one, as real providers' idempotency keys do. Powertools
  idempotency stays only on `POST /orders` (the client's Idempotency-Key).
- **The saga keeps no state of its own.** What is due is a pure function of the order's four
  streams (the order, the saga's commands, the payment, the reservation); each step is one
  conditional append, not a transaction with a state item (3 write units an order instead of 12
  and 4 more to an index). The timeout sweep reads the read model's sparse `pending` index,
  which an order enters once and leaves once.
- **One trace an order.** The event store keeps the trace header of the invocation that wrote
  each event beside it; the outbox puts it on the entry (`TraceHeader`) and records nothing itself
  (PassThrough, Powertools' tracer off), so every consumer continues the order's trace instead of
  the outbox starting one for each batch.
- **Email** reads an order's customer from the order's ORDER_CREATED in the event store rather
  than keeping a copy of its own.
- **Analytics** writes one marker an event (conditional on its eventId), spread over 8 lanes; a
  function folds the markers' stream into the day's counters a batch at a time (one update per
  day and lane a batch, conditional on the last sequence number folded, so a retried batch adds
  only what it has not). prod waits up to 10 s to gather a batch: the counters lag by as much.
- **arm64** for every function: 20% less per GB-second, and the code is pure Python.
- **Memory**: the functions nobody waits on have 160 MB, twice the 54-78 MB they peak at (the
  *peak MB* column); the API functions keep 256 MB. Below 1,769 MB Lambda bills CPU time at the
  same price whatever the memory, but waiting on I/O costs in proportion to it.
- **Logging**: Lambda's advanced logging controls, JSON records, application level INFO and
  system level WARN in prod (the platform's START/END/REPORT records are a third of the bytes of a
  small invocation; dev keeps them at INFO); the keys every line would repeat are left out, the
  per-event `EventsConsumed` metric is gone (Lambda's own Invocations metric counts the same),
  a consumer's line gives the outcome of the event (the whole result is DEBUG), and the
  publisher's summary of a batch is DEBUG unless a record failed or was refused (each event it
  publishes is logged by every consumer that handles it).
- **The API stays REST** ($3.50 a million against an HTTP API's $1.00): HTTP APIs have no
  request validation, so a body that is not a JSON object would reach, and be billed as, a
  function invocation; REST refuses it at the gateway. IAM authorisation, throttling and access
  logs exist on both.

## How to read these

- **Cold start** has two figures for each function, each from a fresh interpreter with the
  function's Lambda environment (LAMBDA_TASK_ROOT among it: without it the X-Ray SDK takes its
  path for a server and builds an X-Ray client at import, 100 ms no function pays in Lambda):
  *import*, the handler's module and its module-level code; and *first answer*, the import and
  then the function's first event handled, its AWS calls served by a moto server on loopback
  (compute, not network). The baseline imports boto3, creates one client and makes as many
  calls as the function's first event made; the libraries' floor is the same function after
  importing pydantic and Powertools' Logger: what every function here is built on, before any
  code of its own. Interpreter start-up and the Lambda runtime's own
  start are in neither. Every function shares one code asset.
- **Warm CPU per event** is measured with moto serving the AWS calls in-process, so it
  includes moto's own work on both sides; the *minimal* handler makes the same calls with a
  plain client and nothing else. The consumer runs as deployed, with INFO logs; every
  request it sends is counted, on any session. What the ratio shows is what parsing,
  validation, logging and tracing add.
- **End to end** runs on the local cloud on this machine (MiniStack, every function a local
  process, its stream poller waking about once a second; part 3's load generator too), after a
  warm-up of
  {flow.WARM_UP} orders: the latency is the emulator's, not AWS's, and it is the ratio between
  runs that means something. MiniStack 1.5.33 waited up to 50 ms after every invocation for a
  first log line, so a silent invocation (the publisher's clean batches) lasted 50 ms longer
  than its work; `localcloud/fixes/awslambda.py` (`end_invocations_without_waiting_for_logs`)
  ends it when the handler returns, as AWS does.
- **The bill** multiplies what one order caused by the list prices. `localcloud/meter.py` counts,
  inside the local cloud: DynamoDB units as DynamoDB reports them (the larger of the item before
  and after, every index an item enters, changes in or leaves, transactions twice, refused
  conditional writes too), EventBridge entries in 64 KB chunks and the bytes the archive keeps,
  SQS requests, SES emails, the bytes written to the log streams (with the platform's records,
  as the function's log levels let them through, and CloudWatch's 26 bytes an event), and each
  invocation's CPU time (from /proc) and wall time. **Lambda duration** is billed as AWS would:
  the CPU time stretched to the function's CPU share (memory / 1,769 MB of a vCPU), plus the
  time spent waiting on I/O (wall less CPU, less the time the function waited for one of this
  machine's cores, from the same /proc figures: the local cloud standing in for AWS's latency).
  **Lambda INIT** bills each function's measured init (part 1) at its memory, for the stated
  share of invocations that are cold starts.
  **X-Ray** counts the traces started (each API request, each sweep, each analytics fold; a
  consumer continues the trace of the event it is given, and the outbox passes each event's on)
  at the default rule's 5%. Custom metrics are
  written as EMF log lines, so they are in the log bytes; their monthly price per metric does
  not grow with orders. The happy path is {results["endToEnd"]["unloaded"]["orders"]} orders sent one at
  a time by registered customers (so every email is really sent). *Under load* counts the
  {loaded_orders(results["endToEnd"])} orders of the load curve (part 3, steady rates up to
  {results["endToEnd"]["loadCurve"][-1]["rate"]} a second), where the
  outbox's stream batches carry several events each, and bills each invocation at the duration
  its function took one order at a time: this saturated 2-core machine stretches every duration
  under load with its own queueing, which AWS's would not. The day's mix adds 10%
  cancelled by the customer, 5% declined payments, 5% out of stock, and 1% of every consumer's
  invocations failing once and retried.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        type=lambda text: [int(r) for r in text.split(",")],
        default=[1, 2, 4, 6, 8, 10, 12],
        help="orders a second, one step each (comma-separated)",
    )
    parser.add_argument("--step-seconds", type=float, default=20, help="how long each rate is held")
    parser.add_argument("--metered", type=int, default=20, help="happy-path orders metered one at a time")
    parser.add_argument("--mixed", type=int, default=40, help="orders of a day's mix metered one at a time")
    parser.add_argument("--repeat", type=int, default=5, help="cold starts per function")
    parser.add_argument("--events", type=int, default=50, help="warm events per consumer")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the results file goes")
    parser.add_argument("--docs", action="store_true", help="also write docs/PERFORMANCE.md and its plots")
    parser.add_argument(
        "--page-only",
        action="store_true",
        help="no run: rewrite docs/PERFORMANCE.md and its plots from docs/performance/results.json",
    )
    args = parser.parse_args(argv)
    if args.page_only:
        results = json.loads((DOCS / "performance" / "results.json").read_text())
        # the bill and the floor derived again from the counts measured (bench/bill.py may have changed)
        results["bill"] = bill_of(results["endToEnd"], PRICES, results["coldStart"])
        plots(results, DOCS / "performance")
        (DOCS / "PERFORMANCE.md").write_text(performance_page(results))
        print(f"wrote {DOCS / 'PERFORMANCE.md'} from the results of {results['when']}")
        capacity.main()
        return 0

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
        capacity.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
