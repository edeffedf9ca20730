"""How the local cloud stops (localcloud/stopping.py): the event sources' running invocations
end before the state is saved, none starts after, and a run past its timeout does not hold the
stop for ever. The stop at work in a cloud: tests/e2e/test_local_cloud_fidelity.py
(`test_a_stop_lets_the_invocations_running_end_before_it_saves`)."""

from __future__ import annotations

import threading
import time

import pytest

from localcloud import stopping


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(stopping, "stopping", threading.Event())
    monkeypatch.setattr(stopping, "_running", {})


def test_the_stop_waits_for_a_running_invocation_and_then_starts_none():
    drained: list[int] = []

    with stopping.invocation(timeout_seconds=30) as starts:
        assert starts
        waiting = threading.Thread(target=lambda: drained.append(stopping.drain()))
        waiting.start()
        time.sleep(0.3)
        assert waiting.is_alive() and not drained  # held by the run
    waiting.join(5)
    assert drained == [0]
    with stopping.invocation(timeout_seconds=30) as starts:
        assert not starts
    assert stopping.running() == 0


def test_a_run_past_its_timeout_holds_the_stop_no_longer(monkeypatch):
    monkeypatch.setattr(stopping, "MARGIN_SECONDS", 0.2)
    with stopping.invocation(timeout_seconds=0.3):
        began = time.monotonic()
        assert stopping.drain() == 1  # still running: cut by the exit
        assert 0.3 <= time.monotonic() - began < 3


def test_with_nothing_running_the_stop_begins_at_once():
    began = time.monotonic()
    assert stopping.drain() == 0
    assert time.monotonic() - began < 0.5
    assert stopping.stopping.is_set()
