"""docs/PERFORMANCE.md: the page's text is bench/PERFORMANCE.md.template; its tables and sections are made here."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from bench import DOCS, PRICES, bill, flow
from bench.tables import loaded_orders, table

BASELINE = DOCS / "performance" / "baseline.json"


def load_baseline() -> dict | None:
    """The bill measured on the commit before the cost work (scripts/bench_baseline.sh)."""
    return json.loads(BASELINE.read_text()) if BASELINE.exists() else None


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


TEMPLATE = Path(__file__).with_name("PERFORMANCE.md.template")


def performance_page(results: dict) -> str:
    """docs/PERFORMANCE.md: bench/PERFORMANCE.md.template (the page's words, `${name}` where a
    figure or a table of this run goes) filled with this run's."""
    baseline = load_baseline()
    before = (
        (
            f"`scripts/bench_baseline.sh {baseline['commit']}` measured the commit before this work with the same "
            f"meter ({baseline['when']}): [performance/baseline.json](performance/baseline.json)."
        )
        if baseline
        else ""
    )
    cost, e2e = results["bill"], results["endToEnd"]
    values = {
        "when": results["when"],
        "commit": results["commit"],
        "machine": results["machine"],
        "table": table(results),
        "coldstart_section": coldstart_section(results),
        "snapstart_section": snapstart_section(results),
        "tracing_table": tracing_table(results),
        "memory_table": memory_table(results),
        "prices_as_of": cost["prices"],
        "before": before,
        "bill_table": bill_table(results),
        "cold_start_rate": format(cost["coldStartRate"], ".0%"),
        "cold_start_table": cold_start_table(results),
        "snapstart_restore_price": format(PRICES["lambda"]["snapStart"]["restorePerGb"], ".10f"),
        "snapstart_break_even_seconds": format(cost["snapStartBreakEvenSeconds"], ".1f"),
        "snapstart_cache_month": format(cost["snapStartCacheMonth"], ".2f"),
        "floor_table": floor_table(results),
        "warm_up": flow.WARM_UP,
        "unloaded_orders": e2e["unloaded"]["orders"],
        "loaded_orders": loaded_orders(e2e),
        "top_rate": e2e["loadCurve"][-1]["rate"],
    }
    return Template(TEMPLATE.read_text()).substitute(values)
