"""What a harness waits on: the local cloud's in-flight figure (localcloud/in_flight.py), and
`LocalCloud.wait_until_idle`, which ends a wait as soon as nothing is left to do instead of after
a fixed quiet time. The figure's counters, at work in a cloud: tests/e2e/test_local_cloud_fidelity.py
(a stream record gathered for a batch)."""

from __future__ import annotations

import threading
import time

import pytest

from localcloud import in_flight
from localcloud.cloud import LocalCloud


@pytest.fixture
def figure(tmp_path, monkeypatch):
    path = tmp_path / "in-flight"
    monkeypatch.setenv("LOCAL_CLOUD_IN_FLIGHT", str(path))
    monkeypatch.setattr(in_flight, "_counters", {})
    monkeypatch.setattr(in_flight, "_written", [])
    return path


def test_the_figure_is_every_counter_summed_and_written_when_it_moves(figure):
    pending, unread = ["a", "b"], [5]
    in_flight.count("async invocations", lambda: len(pending))
    assert figure.read_text() == "2"
    in_flight.count("stream records", lambda: unread[0])
    assert figure.read_text() == "7"
    unread[0] = 0
    pending.pop()
    in_flight.changed()
    assert figure.read_text() == "1"
    figure.unlink()
    in_flight.changed()  # nothing moved: not written again
    assert not figure.exists()


def cloud_with(tmp_path, busy: str) -> LocalCloud:
    cloud = LocalCloud(port=1, state_dir=tmp_path)  # never started: only its in-flight file is read
    cloud.in_flight_file.write_text(busy)
    return cloud


def test_a_wait_until_idle_ends_once_nothing_is_in_flight_and_the_figure_stops(tmp_path):
    cloud, readings = cloud_with(tmp_path, "1"), iter(range(3))
    threading.Timer(3.0, lambda: cloud.in_flight_file.write_text("0")).start()
    started = time.monotonic()
    last = cloud.wait_until_idle(lambda: next(readings, 2), idle_for=1.0)
    waited = time.monotonic() - started
    assert last == 2  # the figure's last value, once it stopped moving
    assert 3.0 <= waited < 5.5  # moving for 1 s, busy for 3 s, then idle for 1 s


def test_a_cloud_that_stays_busy_fails_the_wait_naming_it(tmp_path):
    with pytest.raises(TimeoutError, match="1 in flight"):
        cloud_with(tmp_path, "1").wait_until_idle(lambda: 0, idle_for=0.5, timeout=1.5)
