"""`make chaos` (python -m chaos): every scenario on a local cloud of its own, then the audit's
table. Exits 1 when anything was lost or duplicated or a scenario's check failed.

    python -m chaos                                   # 1,000 orders per scenario
    python -m chaos --orders 20 --scenarios transient,restart
    python -m chaos --docs                            # and record the table in docs/RELIABILITY.md
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from chaos import ROOT
from chaos.audit import Row, metrics_equal_counters
from chaos.scenarios import SCENARIOS
from chaos.world import World

DOCS = ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- chaos-table:begin -->", "<!-- chaos-table:end -->"


def run(
    orders: int,
    scenarios: list[str],
    *,
    clients: int,
    fault_rate: float = 0.1,
    seed: int = 0,
    log=print,
    after_each=None,
) -> list[Row]:
    rows: list[Row] = []
    run_started = time.time()
    with tempfile.TemporaryDirectory() as tmp, World(Path(tmp) / "cloud", clients=clients, seed=seed, log=log) as world:
        for name in scenarios:
            log(f"scenario {name}: {orders} orders ...")
            started = time.monotonic()
            scenario = SCENARIOS[name]
            if "rate" in inspect.signature(scenario).parameters:  # the fault scenarios take the run's rate
                scenario = partial(scenario, rate=fault_rate)
            for row in scenario(world, orders):
                row.name, row.seconds = name, round(time.monotonic() - started, 1)
                rows.append(row)
                log(table([row], header=False))
                for detail in row.details[:20]:
                    log(f"    {detail}")
            if after_each:
                after_each(rows)
        world.wait_until_counted()
        books = metrics_equal_counters(world, since=run_started)
        books.name, books.seconds = "books", 0.0
        rows.append(books)
        log(table([books], header=False))
        for detail in books.details[:20]:
            log(f"    {detail}")
    return rows


def table(rows: list[Row], *, header: bool = True) -> str:
    lines = []
    if header:
        lines += [
            f"| {'scenario':44} | {'events':>7} | {'processed':>9} | {'parked':>6} | {'lost':>4} | "
            f"{'duplicated effects':>18} | {'checks':6} | {'seconds':>7} |",
            f"|{'-' * 46}|{'-' * 8}:|{'-' * 10}:|{'-' * 7}:|{'-' * 5}:|{'-' * 19}:|{'-' * 8}|{'-' * 8}:|",
        ]
    for row in rows:
        checks = "pass" if all(row.checks.values()) else "FAIL"
        lines.append(
            f"| {row.scenario:44} | {row.events:7} | {row.processed:9} | {row.parked:6} | {row.lost:4} | "
            f"{row.duplicated:18} | {checks:6} | {row.seconds:7.0f} |"
        )
    return "\n".join(lines)


def checks(rows: list[Row]) -> str:
    return "\n".join(
        f"- {row.scenario.strip()}: "
        + "; ".join(f"{'ok' if passed else 'FAILED'} {check}" for check, passed in row.checks.items())
        for row in rows
    )


def record(rows: list[Row], orders: int, seconds: float, command: str, *, seed: int, done: bool = True) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    state = f"{seconds / 60:.0f} minutes" if done else f"still running after {seconds / 60:.0f} minutes"
    block = (
        f"{BEGIN}\nLatest run: `{command}`, {orders} orders per scenario, seed {seed}, {when}, commit {commit}, "
        f"{state}.\n\n{table(rows)}\n\nEach scenario's own checks:\n\n{checks(rows)}\n{END}"
    )
    text = DOCS.read_text()
    DOCS.write_text(text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1000, help="orders per scenario (default 1000)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, of: {', '.join(SCENARIOS)}")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API clients (default 8)")
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.1,
        help="transient faults: the fraction of invocations that fail (default 0.1)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="what every random choice of the run follows (default: a new one, printed); the same "
        "seed replays the same ids, faulted events and fuzzed requests",
    )
    parser.add_argument("--docs", action="store_true", help="record the table in docs/RELIABILITY.md")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; there are: {', '.join(SCENARIOS)}")

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**24)
    print(f"seed {seed} (replay with --seed {seed})", flush=True)
    started = time.monotonic()
    if not 0 <= args.fault_rate <= 1:
        parser.error("--fault-rate is a fraction between 0 and 1")
    command = "make chaos" if args.orders == 1000 else f"make chaos ORDERS={args.orders}"
    if names != list(SCENARIOS):
        command = f"python -m chaos --orders {args.orders} --scenarios {','.join(names)} --docs"
    progress = (
        (lambda so_far: record(so_far, args.orders, time.monotonic() - started, command, seed=seed, done=False))
        if args.docs
        else None
    )  # a long run shows its rows as they come
    rows = run(args.orders, names, clients=args.clients, fault_rate=args.fault_rate, seed=seed, after_each=progress)
    seconds = time.monotonic() - started
    print(f"\nChaos run: {args.orders} orders per scenario, seed {seed}, {seconds / 60:.1f} minutes\n")
    print(table(rows))
    print()
    print(checks(rows))
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    if args.docs:
        record(rows, args.orders, seconds, command, seed=seed)
        print(f"\nrecorded in {DOCS.relative_to(ROOT)}")
    failed = [r.scenario.strip() for r in rows if not r.passed]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
