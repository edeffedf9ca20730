"""One benchmark run: every measure, in order, and the machine and commit it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from bench import PRICES, ROOT, coldstart, flow, tracing, warm
from bench.summary import bill_of


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
