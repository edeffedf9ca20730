"""The phase table of docs/TESTING.md, from pytest's --durations lines (scripts/test_timings.py)."""

from __future__ import annotations

from scripts.test_timings import long_runs, phases, table, workers

LOG = """
============================= slowest durations ==============================
300.50s call     tests/chaos/test_chaos.py::test_the_run_prints_the_table
62.00s setup    tests/e2e/test_api_fuzz.py::test_no_generated_request
40.00s setup    tests/infra/test_gates.py::test_cdk_nag
12.25s call     tests/infra/test_gates.py::test_cdk_nag
2.00s call     tests/e2e/test_api_fuzz.py::test_no_generated_request
1.50s call     tests/handlers/test_orders_api.py::test_post
0.50s setup    tests/handlers/test_orders_api.py::test_post
30.00s call     tests/e2e/test_makefile.py::test_make_up
------------------------ the long runs in the background ------------------------
bench: 214 s, exit 0
chaos-1-2: 251 s, exit 0
======================= 430 passed, 2 skipped in 460.12s (0:07:40) =======================
"""


def test_each_duration_lands_in_its_phase_and_the_total_is_pytests():
    spent, tests, wall = phases(LOG)
    assert spent == {
        "the reliability suite's small run (tests/chaos)": 300.5,
        "a local cloud started and deployed into (e2e setup)": 62.0,
        "the synth (tests/infra's fixtures)": 40.0,
        "the gates (cdk-nag, cfn-lint, checkov)": 12.25,
        "the end-to-end tests": 2.0,
        "fast tests: unit, handlers, properties": 2.0,
        "make up ... make down through the Makefile": 30.0,
    }
    assert (tests, wall) == (430, 460.12)
    assert "| **pytest in all (430 tests)** | **460** | |" in table(LOG)


def test_the_background_runs_are_listed_with_their_own_seconds():
    assert long_runs(LOG) == {"bench": 214.0, "chaos-1-2": 251.0}
    assert table(LOG).endswith("(the slowest sets the wall clock): bench 214 s, chaos-1-2 251 s.")
    assert long_runs(LOG.replace("the long runs in the background", "something else")) == {}


VERBOSE = """
[gw1] [  1%] PASSED tests/chaos/test_chaos.py::test_the_run_prints_the_table@tests.chaos.test_chaos::chaos_run
[gw0] [  2%] PASSED tests/e2e/test_api_fuzz.py::test_no_generated_request@deployment
[gw0] [  3%] PASSED tests/handlers/test_orders_api.py::test_post
""" + LOG.replace(
    "tests/e2e/test_api_fuzz.py::test_no_generated_request",
    "tests/e2e/test_api_fuzz.py::test_no_generated_request@deployment",
)


def test_with_verbose_output_each_worker_is_summed_and_its_wait_for_a_long_run_shown():
    assert workers(VERBOSE) == {"gw0": (62.0 + 2.0 + 1.5 + 0.5, 0.0), "gw1": (300.5, 0.0)}
    waiting = VERBOSE.replace("300.50s call     tests/chaos", "300.50s setup    tests/chaos")
    assert workers(waiting)["gw1"] == (300.5, 300.5)
    assert table(waiting).endswith("gw0 66 s (0 s waiting), gw1 300 s (300 s waiting).")
    assert workers(LOG) == {}  # without -v, no worker is named
