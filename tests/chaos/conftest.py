"""The reliability suite's small run: every scenario of `make chaos` with a few orders each, in
the background (tests/support/background.py), split over `CHAOS_TEST_SHARDS` processes, each
with a local cloud of its own, so that their waits (retries, a 6 s function timeout, a 60 s
event age) overlap. Its tests get the finished runs."""

from __future__ import annotations

import os

from chaos.scenarios import SCENARIOS
from tests.support.background import Run, register

ORDERS = int(os.environ.get("CHAOS_TEST_ORDERS", "4"))
# A delivery is parked when all 3 of its attempts fail: at 10% (make chaos) that is 1 in 1,000,
# so a few orders would park nothing and the parked-event checks would have nothing to check.
# At 50% it is 1 in 8: about 9 of the ~72 deliveries of 4 orders, none with odds of 1 in 10,000.
FAULT_RATE = float(os.environ.get("CHAOS_TEST_FAULT_RATE", "0.5"))
# Seeded, so that the run is the same each time: its ids, the events its faults fall on, the
# fuzzer's requests (python -m chaos --seed; a failing run replays with its printed seed).
SEED = os.environ.get("CHAOS_TEST_SEED", "1")
SHARDS = int(os.environ.get("CHAOS_TEST_SHARDS", "2"))


def shards(names: list[str], count: int) -> list[list[str]]:
    """The scenarios dealt out in turn: the slow ones (the faults AWS produces, a restart, an
    event's maximum age) sit apart in the list, so they land on different shards."""
    return [part for part in (names[i::count] for i in range(count)) if part]


RUNS = register("chaos_run", *[
    Run(f"chaos {i + 1}/{SHARDS}", ["chaos", "--orders", str(ORDERS), "--clients", "4", "--fault-rate", str(FAULT_RATE),
                                    "--seed", SEED, "--scenarios", ",".join(part), "--out", "{folder}/rows.json"])
    for i, part in enumerate(shards(list(SCENARIOS), SHARDS))])
