"""What the local cloud still has to do, in one figure a harness can wait on: the asynchronous
invocations it has accepted and not finished (queued, running, or waiting for a retry), and the
stream records its event-source mappings have not yet got past (being gathered for a batch,
being handled, or waiting out a retry's back-off). AWS has no such figure: a harness there
waits on outcomes.

Each part is counted by the fix that runs it (localcloud/fixes/): it registers a
counter here and calls `changed()` whenever its figure may have moved. The total goes to the
file LOCAL_CLOUD_IN_FLIGHT names (`LocalCloud.in_flight()` reads it), written on every change,
so that it is never behind: a function that finishes after writing to a streamed table has
already counted the records it wrote. A paused mapping's records count too: they are still to
be read once it is enabled again."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

_counters: dict[str, Callable[[], int]] = {}
_lock = threading.Lock()
_written: list[int] = []  # the figure last written


def count(name: str, counter: Callable[[], int]) -> None:
    """`counter()` is part of the figure from now on (one counter for each name)."""
    _counters[name] = counter
    changed()


def total() -> int:
    return sum(counter() for counter in list(_counters.values()))


def changed() -> None:
    """The figure, written again if it has moved (a no-op unless LOCAL_CLOUD_IN_FLIGHT names a
    file)."""
    path = os.environ.get("LOCAL_CLOUD_IN_FLIGHT")
    if not path:
        return
    with _lock:  # one writer at a time: the last write is the latest figure
        figure = total()
        if _written == [figure]:
            return
        with open(f"{path}.tmp", "w") as out:
            out.write(str(figure))
        os.replace(f"{path}.tmp", path)
        _written[:] = [figure]
