"""The reliability suite's small run starts as soon as the session has collected a test that
needs it, in a process of its own, so that it runs while the other suites do: it waits far
more than it computes (retries, a 6 s function timeout, a 60 s event age), and alone it was
half of `make test` (docs/TESTING.md). Its tests wait for it to finish."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from localcloud.cloud import ROOT

ORDERS = int(os.environ.get("CHAOS_TEST_ORDERS", "4"))
# A delivery is parked when all 3 of its attempts fail: at 10% (make chaos) that is 1 in 1,000,
# so a few orders would park nothing and the parked-event checks would have nothing to check.
# At 50% it is 1 in 8: about 9 of the ~72 deliveries of 4 orders, none with odds of 1 in 10,000.
FAULT_RATE = float(os.environ.get("CHAOS_TEST_FAULT_RATE", "0.5"))
# Seeded, so that the run is the same each time: its ids, the events its faults fall on, the
# fuzzer's requests (python -m chaos --seed; a failing run replays with its printed seed).
SEED = os.environ.get("CHAOS_TEST_SEED", "1")


@dataclass
class Run:
    process: subprocess.Popen
    out: Path
    stdout: Path
    stderr: Path


_run: Run | None = None


def start() -> Run:
    """The run, started once."""
    global _run
    if _run is None:
        folder = Path(tempfile.mkdtemp(prefix="chaos-"))
        stdout, stderr = folder / "stdout.txt", folder / "stderr.txt"
        process = subprocess.Popen(
            [sys.executable, "-m", "chaos", "--orders", str(ORDERS), "--clients", "4", "--fault-rate", str(FAULT_RATE),
             "--seed", SEED, "--out", str(folder / "rows.json")],
            cwd=ROOT, stdout=stdout.open("w"), stderr=stderr.open("w"), text=True)
        _run = Run(process, folder / "rows.json", stdout, stderr)
    return _run


def pytest_collection_finish(session):
    if os.environ.get("E2E_TARGET") != "aws" and any("chaos_run" in getattr(item, "fixturenames", ())
                                                     for item in session.items):
        start()


def pytest_sessionfinish(session, exitstatus):
    if _run is not None and _run.process.poll() is None:  # the session ended early: stop it and its cloud
        _run.process.terminate()
        _run.process.wait(timeout=300)


def pytest_collection_modifyitems(session, config, items):
    """The run's own tests last, so that everything else runs while it does."""
    items.sort(key=lambda item: "chaos_run" in getattr(item, "fixturenames", ()))
