"""Shared fixtures: fake AWS credentials for moto, a Lambda context, moto-backed tables."""

from __future__ import annotations

import os

import pytest
from hypothesis import Phase, settings

from tests.support import background

# `make mutate` runs the property tests once for each mutant: the first failing example kills it,
# and shrinking that example (minutes, against moto) would only slow the run; derandomized, so a
# mutant's verdict does not depend on the draw.
settings.register_profile("mutation", phases=[Phase.explicit, Phase.generate], derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Never talk to a real account by accident: moto and the local cloud accept these.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OrderPlatformTests")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@pytest.fixture
def lambda_context():
    from localcloud.run_handler import Context

    return Context("test-function")


# ---- the long runs in the background, and the workers (pytest-xdist) -----------------------------


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the session's main process, before any worker starts
        background.session_folder()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(session, config, items):
    """The tests that wait for a long run go last, so that everything else runs while it does;
    the tests that share an expensive fixture (a deployment, a synth, a local cloud of a
    module's own) are one group, run by one worker (`--dist loadgroup`), which builds it once."""
    items.sort(key=lambda item: bool(background.needs(item)))
    for item in items:
        if group := _shared_fixture(item):
            item.add_marker(pytest.mark.xdist_group(group))


SAME = {"dev": "synth", "prod": "synth"}  # tests/infra's synths: built by the worker that takes both


def _shared_fixture(item) -> str | None:
    """The first of the suite's own session- or module-scoped fixtures the item uses (a
    module-scoped one named with its module), the deployment and the synth before the others.
    Not a long run's: it builds nothing, any worker reads the run's files. Grouped, its tests
    were one large unit, which pytest-xdist sends out early (largest first): a worker then
    sat waiting for the run (113 s of 286) while the other ran the rest."""
    names = []
    for name, definitions in item._fixtureinfo.name2fixturedefs.items():
        definition = definitions[-1]
        if (
            definition.scope == "function"
            or name in background.RUNS
            or not getattr(definition.func, "__module__", "").startswith("tests")
        ):
            continue
        names.append(SAME.get(name, name) if definition.scope == "session" else f"{item.module.__name__}::{name}")
    return min(names, key=lambda name: (name not in ("deployment", "synth"), name), default=None)


def pytest_collection_finish(session):
    background.start_needed(session)


LONG_RUNS = pytest.StashKey[list]()  # each background run's time, for the summary


def pytest_sessionfinish(session, exitstatus):
    if not hasattr(session.config, "workerinput"):
        # a session that ended early stops its runs and their local clouds
        session.config.stash[LONG_RUNS] = background.stop_all()


def pytest_terminal_summary(terminalreporter, config):
    if took := config.stash.get(LONG_RUNS, []):
        terminalreporter.write_sep("-", background.SUMMARY)
        for line in took:
            terminalreporter.write_line(line)
