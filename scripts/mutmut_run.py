"""`python -m mutmut`, with mutmut 3.8.1's wall-clock timeouts sent only to the worker each was
set for (scripts/mutate.py runs mutmut through this file).

mutmut sends SIGXCPU to a worker's pid when the worker's time is up, and leaves the entry of a
worker that ended first in its queue (mutmut/workers/timeout.py: "we let expired entries for
already-terminated processes remain"). By then the pid may be another process's: on this machine
(pid_max 32768, and a local cloud starting processes for Lambda invocations) pids come round
within minutes, and a `make mutate` run beside a `make chaos` run killed the chaos run's local
cloud (its MiniStack process ended by signal 24, SIGXCPU, with no CPU limit set, 23 minutes after
it started, when a worker's entry expired). Here each timeout remembers its process's start time
and its deadline; a signal goes out only to the process it was set for, when its own time is up.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path


def started(pid: int) -> str | None:
    """The process's start time, in clock ticks since boot (/proc/PID/stat, field 22), or None
    when no process has that pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19]  # fields[0] is field 3 (the state)


_SET_FOR: dict[int, tuple[str | None, float]] = {}  # pid: (its start time, its deadline)


def register_timeout(pid: int, timeout_s: float) -> None:
    assert _MUTMUTS is not None, "install() first"
    _SET_FOR[pid] = (started(pid), time.time() + timeout_s)
    _MUTMUTS(pid, timeout_s)


def kill(pid: int, signal: int) -> None:
    """mutmut's timeout signal, sent only while `pid` is still the worker the latest timeout for
    that pid was set for, and that timeout is due (an earlier worker's entry is not)."""
    start, deadline = _SET_FOR.get(pid, (None, 0.0))
    if start is not None and started(pid) == start and time.time() >= deadline - 0.5:
        os.kill(pid, signal)


class _Os:
    """What mutmut/workers/timeout.py calls `os` for."""

    getpid = staticmethod(os.getpid)
    kill = staticmethod(kill)


def install() -> None:
    """mutmut's timeouts through the two functions above (mutmut reads its configuration, the
    staging copy's pyproject.toml, as it is imported)."""
    global _MUTMUTS
    from mutmut.workers import isolation, timeout

    if timeout.register_timeout is not register_timeout:
        _MUTMUTS = timeout.register_timeout
    timeout.os = _Os  # type: ignore[assignment]
    timeout.register_timeout = isolation.register_timeout = register_timeout


_MUTMUTS: Callable[[int, float], None] | None = None  # mutmut's own register_timeout, once installed


if __name__ == "__main__":
    install()
    from mutmut.__main__ import cli

    sys.argv[0] = "mutmut"
    cli()
