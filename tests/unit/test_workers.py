"""`make test` spreads the suite over pytest-xdist workers and keeps the tests that share an
expensive fixture (a deployment, a synth, a module's local cloud) on one worker, by group
(`--dist loadgroup`, tests/conftest.py). pytest 9.2 silently stopped that grouping
(pytest-xdist#1386: the group was written into the node id, which 9.2 no longer reads), and
each worker built its own deployment: requirements.txt pins pytest 9.1. This is the smallest
case: it goes red on a pytest that loses the groups."""

from __future__ import annotations

import os
import subprocess
import sys

GROUPED = """
import os, pytest

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("n", range(4))
def test_grouped(n):
    with open(os.path.join(os.environ["RAN_ON"], f"{__name__}-{n}"), "w") as ran:
        ran.write(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_tests_of_one_group_run_on_one_worker(tmp_path):
    (tmp_path / "test_a.py").write_text(GROUPED)
    (tmp_path / "test_b.py").write_text(GROUPED)
    ran_on = tmp_path / "ran-on"
    ran_on.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-p",
            "xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_a.py",
            "test_b.py",
        ],
        cwd=tmp_path,
        # pytest-xdist alone: loading the suite's other plugins in each of the three processes
        # took most of the test's 6 s (0.6 s without), and none of them changes how groups are sent
        env={**os.environ, "RAN_ON": str(ran_on), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    workers = {path.name: path.read_text() for path in ran_on.iterdir()}
    assert len(workers) == 8 and set(workers.values()) <= {"gw0", "gw1"}, workers
    assert len(set(workers.values())) == 1, workers


def test_the_chaos_small_run_is_split_into_shards_of_about_equal_time():
    """The small run's wall clock is its slower shard's: every scenario runs once, on one shard,
    and no shard holds much more than its share."""
    from chaos.scenarios import SCENARIOS
    from tests.chaos.conftest import SECONDS, shards

    names = list(SCENARIOS)
    assert set(SECONDS) == set(names), "time the new scenario and add it to SECONDS (tests/chaos/conftest.py)"
    for count in (1, 2, 3):
        parts = shards(names, count)
        assert sorted(n for part in parts for n in part) == sorted(names)
        assert all(part == sorted(part, key=names.index) for part in parts)  # the suite's order kept
        times = [sum(SECONDS[n] for n in part) for part in parts]
        assert max(times) <= sum(times) / count + max(SECONDS.values()) / 2, (parts, times)
    assert ["new"] in shards([*names, "new"], len(names) + 1)  # an untimed scenario still runs


def item_using(*fixtures: tuple[str, str]):
    """A collected test as `_shared_fixture` sees it: the (name, scope) of each suite fixture it uses."""
    from types import SimpleNamespace

    def definition(scope: str):
        return [SimpleNamespace(scope=scope, func=SimpleNamespace(__module__="tests.e2e.conftest"))]

    return SimpleNamespace(
        module=SimpleNamespace(__name__="tests.chaos.test_chaos"),
        _fixtureinfo=SimpleNamespace(name2fixturedefs={n: definition(s) for n, s in fixtures}),
    )


def test_a_test_that_waits_for_a_long_run_is_in_no_group():
    """Grouped, the reliability run's tests were one large unit that pytest-xdist sent out early: a
    worker sat waiting for the run while the other ran the rest of the suite. Alone, each goes
    last (tests/conftest.py sorts them last) to whichever worker is free."""
    import tests.bench.conftest
    import tests.chaos.conftest  # noqa: F401
    from tests.conftest import _shared_fixture
    from tests.support.background import RUNS

    assert "chaos_run" in RUNS and "bench_run" in RUNS
    assert _shared_fixture(item_using(("chaos_run", "module"))) is None
    assert _shared_fixture(item_using(("bench_run", "session"))) is None
    assert _shared_fixture(item_using(("chaos_run", "module"), ("deployment", "session"))) == "deployment"
    assert _shared_fixture(item_using(("cloud", "module"))) == "tests.chaos.test_chaos::cloud"
