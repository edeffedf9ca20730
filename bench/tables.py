"""The run as the text tables `make bench` prints."""

from __future__ import annotations

from bench import PRICES, bill, load
from infra.consumers import PUBLISHER


def records_per_batch(per: dict) -> float:
    """Events each publisher invocation carried from the stream to the bus."""
    calls = per["functions"].get(PUBLISHER.name, {}).get("invocations", 0)
    return per["eventBridgeEvents"] / calls if calls else 0.0


def loaded_orders(e2e: dict) -> int:
    return sum(row["orders"] for row in e2e["loadCurve"])


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
