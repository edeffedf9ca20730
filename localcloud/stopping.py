"""How the local cloud stops: as a service does, not as a crash.

`LocalCloud.stop()` (`make down`, the chaos run's restart) sends the server STOP_SIGNAL, and the
server then
  1. starts no new invocation from its event sources (the queue of asynchronous invokes, the
     stream pollers): what they have not started stays in the saved state, for the restart;
  2. waits for the invocations they are running to end, each at the latest by its function's
     timeout: no run is cut between its effect and its record of it (an email sent and not
     marked SENT would be sent again after the restart);
  3. ends its process group with SIGTERM: MiniStack saves each service's state and exits, and
     its Lambda workers with it.
A bare SIGTERM (plain MiniStack in the fidelity tests, `stop(at_once=True)`, a kill by hand)
skips 1 and 2 and cuts the runs short. A run cut after 1 (past its deadline) is no attempt of
its event's; one cut by a bare SIGTERM counts as one, as the stop had not begun when it failed.
Either way an async one that has run waits its timeout out after the restart before it runs
again (durable_async_invokes).

The API's requests are served until 3: one running then is cut, its client gets no answer and
sends it again after the restart, with the same Idempotency-Key, as a client of AWS does after
a timeout. The sources count what they run with `invocation()`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

log = logging.getLogger("localcloud.stopping")

STOP_SIGNAL = signal.SIGUSR1  # "stop when what runs has ended"; SIGTERM stays "stop now"
# Past a run's timeout: its cold start (a new worker's init, up to 10 s on AWS, is not part of
# the timeout) and its worker's answer that it timed out.
MARGIN_SECONDS = 10.0

stopping = threading.Event()  # set once the stop has begun: the sources start nothing more
_running: dict[int, float] = {}  # each invocation a source is running: the latest it can end (monotonic)
_ids = itertools.count()
_changed = threading.Condition()


@contextlib.contextmanager
def invocation(timeout_seconds: float) -> Iterator[bool]:
    """Around an invocation an event source starts: False when the cloud is stopping (start
    nothing), else True, and the stop waits for it to end (`timeout_seconds`, the function's
    timeout, bounds that wait)."""
    with _changed:
        if stopping.is_set():
            yield False
            return
        key = next(_ids)
        _running[key] = time.monotonic() + timeout_seconds + MARGIN_SECONDS
    try:
        yield True
    finally:
        with _changed:
            del _running[key]
            _changed.notify_all()


def running() -> int:
    with _changed:
        return len(_running)


def drain() -> int:
    """Begin the stop and wait for the sources' running invocations to end (each by its
    deadline at the latest): how many had not."""
    with _changed:
        stopping.set()
        while _running:
            left = max(_running.values()) - time.monotonic()
            if left <= 0:
                break
            _changed.wait(left)
        return len(_running)


def stop_in_order() -> None:
    """Steps 1 to 3 above."""
    began = time.monotonic()
    cut = drain()
    if cut:
        log.warning("stopping: %d invocations still running past their timeout are cut", cut)
    log.info("stopping: the event sources' invocations ended in %.1f s; saving", time.monotonic() - began)
    if os.getpgrp() == os.getpid():  # started by LocalCloud: a group of its own, its workers in it
        os.killpg(os.getpgrp(), signal.SIGTERM)
    else:
        os.kill(os.getpid(), signal.SIGTERM)


def listen() -> None:
    """In the server's main thread, before it serves: STOP_SIGNAL stops it in order."""
    signal.signal(STOP_SIGNAL, lambda *_: threading.Thread(target=stop_in_order, name="stop", daemon=True).start())
