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
