"""The benchmark's small run, in the background (tests/support/background.py): its tests get
the finished run."""

from __future__ import annotations

import pytest

from tests.support.background import Run, register

# Every part of `make bench` on a tiny input: two load steps of 3 s, 3 metered orders, a mix of
# 4, one cold start per function, 2 warm events per consumer.
RUN = register(
    "bench_run",
    Run(
        "bench",
        [
            "bench",
            "--rates",
            "1,2",
            "--step-seconds",
            "3",
            "--metered",
            "3",
            "--mixed",
            "4",
            "--repeat",
            "1",
            "--events",
            "2",
            "--out",
            "{folder}",
        ],
    ),
)[0]


@pytest.fixture(scope="session")
def bench_run():
    """The run's exit code and output, once it has ended; its results are in `RUN.folder`."""
    return RUN.finished(timeout=900)
