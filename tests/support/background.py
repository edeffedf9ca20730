"""The suite's long runs (the reliability suite's small run, the benchmark's small run), each
started as soon as pytest has collected a test that needs it, in a process of its own with a
local cloud of its own, so that they run beside the rest of the suite: they wait far more than
they compute (retries, function timeouts, an event's maximum age, a meter settling). Alone, one
after the other, they were two thirds of `make test` (docs/TESTING.md).

A conftest registers runs under a fixture name; the tests that ask for that fixture wait for
the runs to finish (`Run.finished`) and are sorted last, so that everything else goes first.
Under pytest-xdist every worker collects every test: the first to claim a run (a file created
exclusively in the session's runs folder) starts it, and any worker can wait for it, since the
run writes its own exit code. The session's main process stops what is still running when the
session ends. `tests/conftest.py` wires the hooks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "TEST_BACKGROUND_RUNS"  # the environment variable naming the session's runs folder
SUMMARY = "the long runs in the background"  # the title of the session's summary of their times
# The run's command, its output to files and its exit code to a file, in a shell of its own
# (any process of the session can read the code; none needs to be its parent). The shell
# outlives a Ctrl-C (`trap :`), so the code is written after the run has stopped its cloud.
_WRAPPER = (
    'trap : INT; cd "$1" && shift && "$@" >"$RUN/stdout.txt" 2>"$RUN/stderr.txt"; echo $? >"$RUN/exit.tmp"; '
    'mv "$RUN/exit.tmp" "$RUN/exit"'
)


def session_folder() -> Path:
    """Named by the session's main process before any worker starts (workers inherit it), made
    when a run first starts."""
    return Path(os.environ.setdefault(FOLDER, str(Path(tempfile.gettempdir()) / f"pytest-runs-{uuid.uuid4().hex}")))


@dataclass
class Run:
    name: str
    arguments: list[str]  # after `python -m`; "{folder}" is replaced by the run's own folder
    env: dict[str, str] = field(default_factory=dict)  # set for the run, over the session's

    @property
    def folder(self) -> Path:
        return session_folder() / re.sub(r"[^a-z0-9]+", "-", self.name.lower())

    @property
    def stdout(self) -> Path:
        return self.folder / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.folder / "stderr.txt"

    def start(self) -> Run:
        """Started, unless another process of the session has claimed it first."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.folder / "claimed", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return self
        arguments = [a.replace("{folder}", str(self.folder)) for a in self.arguments]
        process = subprocess.Popen(
            ["sh", "-c", _WRAPPER, "run", str(ROOT), sys.executable, "-m", *arguments],
            env={**os.environ, **self.env, "RUN": str(self.folder)},
            start_new_session=True,
        )
        (self.folder / "pid").write_text(str(process.pid))
        (self.folder / "started").write_text(str(time.time()))
        return self

    def finished(self, timeout: float) -> subprocess.CompletedProcess:
        """Its exit code and output, once it has ended (started now if nothing had started it)."""
        exit_code, deadline = self.start().folder / "exit", time.monotonic() + timeout
        while not exit_code.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} still running after {timeout:.0f} s; its output: {self.stdout}")
            time.sleep(0.5)
        return subprocess.CompletedProcess(
            self.arguments, int(exit_code.read_text()), self.stdout.read_text(), self.stderr.read_text()
        )


RUNS: dict[str, list[Run]] = {}  # fixture name: the runs it stands for


def register(fixture: str, *runs: Run) -> list[Run]:
    return RUNS.setdefault(fixture, list(runs))


def needs(item) -> list[str]:
    return [name for name in getattr(item, "fixturenames", ()) if name in RUNS]


def start_needed(session) -> None:
    """Every run a collected test needs, started (not to only list the tests, nor against AWS:
    the runs inject faults and start local clouds)."""
    if session.config.option.collectonly or os.environ.get("E2E_TARGET") == "aws":
        return
    for name in dict.fromkeys(name for item in session.items for name in needs(item)):
        for run in RUNS[name]:
            run.start()


def stop_all() -> list[str]:
    """What the session started and is still running, stopped (from the session's main process:
    a worker may finish while another still waits for a run); a line for each run: how long it
    took, from its start to its exit code (the slowest sets `make test`'s wall clock)."""
    took = []
    if FOLDER in os.environ and session_folder().exists():
        for folder in sorted(session_folder().iterdir()):
            stop(folder)
            started, exit_code = folder / "started", folder / "exit"
            if started.exists() and exit_code.exists():
                # the exit file's time is the kernel's coarse clock, up to a tick behind time.time()
                seconds = max(0.0, exit_code.stat().st_mtime - float(started.read_text()))
                took.append(f"{folder.name}: {seconds:.0f} s, exit {exit_code.read_text().strip()}")
        failed = [f for f in session_folder().glob("*/exit") if f.read_text().strip() != "0"]
        if failed:  # kept for the reader: each run's output
            print(f"\nthe long runs' output: {session_folder()}", file=sys.stderr)
        else:
            shutil.rmtree(session_folder(), ignore_errors=True)
    return took


def stop(folder: Path, patience: float = 300) -> None:
    """The run in `folder`, if it is still running: interrupted (Ctrl-C: its `finally` blocks
    stop its local cloud, which runs in a process group of its own), and waited for."""
    pid, exit_code = folder / "pid", folder / "exit"
    if not pid.exists() or exit_code.exists():
        return
    try:
        os.killpg(int(pid.read_text()), signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + patience
    while not exit_code.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
