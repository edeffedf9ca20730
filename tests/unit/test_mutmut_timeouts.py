"""scripts/mutmut_run.py: mutmut's wall-clock timeout reaches the worker it was set for, and no
process that took the pid of a worker since ended (mutmut 3.8.1 signals the bare pid)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from scripts import mutmut_run

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


@pytest.fixture
def sleeper():
    process = subprocess.Popen(SLEEPER)
    yield process
    process.kill()
    process.wait()


def test_a_worker_whose_time_is_up_gets_mutmuts_signal(sleeper):
    mutmut_run._SET_FOR[sleeper.pid] = (mutmut_run.started(sleeper.pid), time.time())
    mutmut_run.kill(sleeper.pid, signal.SIGXCPU)
    assert sleeper.wait(timeout=10) == -signal.SIGXCPU


def test_a_process_that_took_an_ended_workers_pid_is_left_alone(sleeper):
    """Another process at the pid: its start time is not the worker's."""
    mutmut_run._SET_FOR[sleeper.pid] = ("1", time.time())  # the worker that had the pid, started at boot
    mutmut_run.kill(sleeper.pid, signal.SIGXCPU)
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=1)


def test_an_earlier_workers_entry_does_not_cut_short_the_worker_now_at_its_pid(sleeper):
    """mutmut's queue still holds the entry of the pid's earlier worker, due now; the worker at
    the pid now was given until later."""
    mutmut_run._SET_FOR[sleeper.pid] = (mutmut_run.started(sleeper.pid), time.time() + 60)
    mutmut_run.kill(sleeper.pid, signal.SIGXCPU)
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=1)


def test_mutmut_sends_its_timeouts_through_the_guard(tmp_path, monkeypatch):
    (tmp_path / "src").mkdir()  # what mutmut needs to find to be imported: the staging copy's layout
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["src"]\n')
    monkeypatch.chdir(tmp_path)
    from mutmut.workers import isolation, timeout

    monkeypatch.setattr(timeout, "os", timeout.os)
    monkeypatch.setattr(timeout, "register_timeout", timeout.register_timeout)
    monkeypatch.setattr(isolation, "register_timeout", isolation.register_timeout)
    mutmut_run.install()
    assert timeout.os.kill is mutmut_run.kill
    assert isolation.register_timeout is timeout.register_timeout is mutmut_run.register_timeout
