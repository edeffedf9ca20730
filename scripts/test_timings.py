"""Where `make test`'s time goes, by phase, from pytest's own timings.

    PYTEST_ADDOPTS="--durations=0 --durations-min=0" make test | tee test.log
    python -m scripts.test_timings test.log          # the table docs/TESTING.md shows

With `-v` in PYTEST_ADDOPTS too, it also sums each pytest-xdist worker's tests, and how long
each sat waiting for a long run (the setup of a test that needs one).

Each test's setup, call and teardown is put in one phase: the synth and the gates (tests/infra),
starting a local cloud and deploying into it (the setup of the first end-to-end test, which
builds the session's deployment; `make up` in tests/e2e/test_makefile.py), the end-to-end
tests themselves, the reliability suite's small run (tests/chaos), the benchmark's small run
(tests/bench) and the fast tests (unit, handlers, properties). Installing is timed apart
(`time make install` on a fresh clone), since pytest does not see it.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)")
RUN = re.compile(r"^([a-z0-9-]+): (\d+) s, exit \d+$", re.MULTILINE)
WORKER = re.compile(r"^\[(gw\d+)\] \[\s*\d+%\] \w+ (\S+)", re.MULTILINE)  # -v: "[gw0] [ 12%] PASSED tests/..."
TOTAL = re.compile(r"=+ .*?(\d+) passed.* in ([\d.]+)s")

PHASES = [
    (
        "fast tests: unit, handlers, properties",
        lambda path, when, seconds: path.startswith(("tests/unit", "tests/handlers", "tests/properties")),
    ),
    (
        "the synth (tests/infra's fixtures)",
        lambda path, when, seconds: path.startswith("tests/infra") and when == "setup" and seconds >= 5,
    ),
    (
        "templates checked (tests/infra/test_stacks.py)",
        lambda path, when, seconds: path.startswith("tests/infra/test_stacks"),
    ),
    ("the gates (cdk-nag, cfn-lint, checkov)", lambda path, when, seconds: path.startswith("tests/infra/test_gates")),
    (
        "a local cloud started and deployed into (e2e setup)",
        lambda path, when, seconds: path.startswith("tests/e2e") and when == "setup" and seconds >= 5,
    ),
    (
        "make up ... make down through the Makefile",
        lambda path, when, seconds: path.startswith("tests/e2e/test_makefile"),
    ),
    (
        "the local cloud's fidelity cases (plain and patched)",
        lambda path, when, seconds: path.startswith("tests/e2e/test_local_cloud_fidelity"),
    ),
    ("the end-to-end tests", lambda path, when, seconds: path.startswith("tests/e2e")),
    ("the reliability suite's small run (tests/chaos)", lambda path, when, seconds: path.startswith("tests/chaos")),
    ("the benchmark's small run (tests/bench)", lambda path, when, seconds: path.startswith("tests/bench")),
    ("anything else", lambda path, when, seconds: True),
]


def phases(log: str) -> tuple[dict[str, float], int, float]:
    spent: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        seconds, when, node = float(match.group(1)), match.group(2), match.group(3)
        path = node.split("::")[0]
        name = next(name for name, belongs in PHASES if belongs(path, when, seconds))
        spent[name] += seconds
    total = TOTAL.search(log)
    return dict(spent), int(total.group(1)) if total else 0, float(total.group(2)) if total else sum(spent.values())


def long_runs(log: str) -> dict[str, float]:
    """Each background run's seconds, from start to exit (tests/conftest.py's summary)."""
    _, found, rest = log.partition(" the long runs in the background ")
    return {m.group(1): float(m.group(2)) for m in RUN.finditer(rest)} if found else {}


def workers(log: str) -> dict[str, tuple[float, float]]:
    """With -v: each worker's seconds in its tests, and how many of them it spent waiting for a
    long run (the setup of a tests/chaos or tests/bench test)."""
    ran_on = {m.group(2).split("@")[0]: m.group(1) for m in WORKER.finditer(log)}
    busy: dict[str, float] = defaultdict(float)
    waiting: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        if (match := LINE.match(line)) and (worker := ran_on.get(match.group(3).split("@")[0])):
            busy[worker] += float(match.group(1))
            if match.group(2) == "setup" and match.group(3).startswith(("tests/chaos", "tests/bench")):
                waiting[worker] += float(match.group(1))
    return {worker: (busy[worker], waiting[worker]) for worker in sorted(busy)}


def table(log: str) -> str:
    spent, tests, wall = phases(log)
    rows = ["| phase | seconds | share |", "| --- | ---: | ---: |"]
    for name, _ in PHASES:
        if spent.get(name):
            rows.append(f"| {name} | {spent[name]:.0f} | {spent[name] / wall:.0%} |")
    rows.append(f"| **pytest in all ({tests} tests)** | **{wall:.0f}** | |")
    if runs := long_runs(log):
        rows += [
            "",
            "The long runs in the background, from start to end (the slowest sets the wall clock): "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in runs.items())
            + ".",
        ]
    if by_worker := workers(log):
        rows += [
            "",
            "Each worker's tests (-v), and the part spent waiting for a long run: "
            + ", ".join(
                f"{worker} {busy:.0f} s ({waiting:.0f} s waiting)" for worker, (busy, waiting) in by_worker.items()
            )
            + ".",
        ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]).read_text()))
