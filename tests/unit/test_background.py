"""The suite's long runs in the background (tests/support/background.py): started once however
many processes ask, their exit code and output read by any of them, and their time reported."""

from __future__ import annotations

from scripts.test_timings import long_runs
from tests.support import background
from tests.support.background import Run


def test_a_run_starts_once_and_reports_its_exit_code_output_and_time(tmp_path, monkeypatch):
    monkeypatch.setenv(background.FOLDER, str(tmp_path / "runs"))
    run = Run("Sleeper 1/2", ["timeit", "-n", "1", "-r", "1", "import time; time.sleep(1.0)"])
    run.start()
    run.start()  # a second worker asking: the run it finds is the first's
    assert (run.folder / "claimed").exists() and run.folder.name == "sleeper-1-2"
    finished = run.finished(timeout=60)
    assert finished.returncode == 0 and "1 loop" in finished.stdout
    failing = Run("failing", ["no_such_module_here"]).start()
    assert failing.finished(timeout=60).returncode == 1

    took = background.stop_all()
    assert [line.split(":")[0] for line in took] == ["failing", "sleeper-1-2"]
    seconds = float(took[1].split(": ")[1].split(" s")[0])
    assert 1 <= seconds < 30 and took[1].endswith("exit 0") and took[0].endswith("exit 1")
    assert (tmp_path / "runs").exists()  # a failed run's output is kept for the reader
    # as make test prints them, and as the timing table reads them (docs/TESTING.md)
    assert long_runs(f"----- {background.SUMMARY} -----\n" + "\n".join(took)) == {
        "failing": float(took[0].split()[1]),
        "sleeper-1-2": seconds,
    }


def test_a_run_that_ends_within_the_clocks_tick_took_0_seconds_not_minus_0(tmp_path, monkeypatch):
    """A file's time is the kernel's coarse clock, up to a tick behind time.time(): a run that
    exits within that tick of its start read as "-0 s", which the timing table could not parse."""
    import os
    import time

    monkeypatch.setenv(background.FOLDER, str(tmp_path / "runs"))
    folder = tmp_path / "runs" / "quick"
    folder.mkdir(parents=True)
    (folder / "started").write_text(str(time.time()))
    (folder / "exit").write_text("0")
    stamp = float((folder / "started").read_text()) - 0.004  # as the coarse clock may stamp it
    os.utime(folder / "exit", (stamp, stamp))

    took = background.stop_all()
    assert took == ["quick: 0 s, exit 0"]
    assert long_runs(f"----- {background.SUMMARY} -----\n" + took[0]) == {"quick": 0.0}
