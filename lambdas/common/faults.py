"""Fault injection: switches read from a function's environment, so a deployed function can be
made to fail on purpose (`make fault`, `make chaos`). No stack sets them (a test checks it) and
the tools refuse them on prod; unset, every switch is off.

  FAULT_INJECTION_EVENT_TYPES=ORDER_CREATED,...   fail every event of these types (consumers)
  FAULT_INJECTION_RATE=0.1                         fail this fraction of invocations at random:
                                                   half before the work, half after its effects
                                                   (a crash between the effect and the record of
                                                   it, which the retry must not repeat)
  FAULT_INJECTION_SEED=1234                        with the rate: decide from the seed, the function
                                                   and the event (its stream, type and version) and how
                                                   many times this process has seen it, not at random:
                                                   a run with the same seed faults the same events
  FAULT_INJECTION_DUPLICATES=1                     the publisher sends each event this many
                                                   extra times (at-least-once delivery, worst case)
  FAULT_INJECTION_REORDER=1                        the publisher sends each batch newest first
                                                   (out-of-order delivery, worst case)
"""

from __future__ import annotations

import os
import random

SWITCHES = ("FAULT_INJECTION_EVENT_TYPES", "FAULT_INJECTION_RATE", "FAULT_INJECTION_SEED", "FAULT_INJECTION_DUPLICATES",
            "FAULT_INJECTION_REORDER")

BEFORE, AFTER = "before the work", "after the work's effects"


class FaultInjected(RuntimeError):
    """Raised on purpose by a fault-injection switch."""


def fail_for_type(event_type: str) -> None:
    types = os.environ.get("FAULT_INJECTION_EVENT_TYPES", "")
    if event_type in {t.strip() for t in types.split(",") if t.strip()}:
        raise FaultInjected(f"fault injected for {event_type} (FAULT_INJECTION_EVENT_TYPES)")


def random_failure_point(key: str = "") -> str | None:
    """Where this invocation, about `key` (what it works on), is to fail (BEFORE or AFTER), or
    None: it does not."""
    rate = _rate()
    if rate <= 0:
        return None
    draw = _draw(key)
    if draw.random() >= rate:
        return None
    return draw.choice((BEFORE, AFTER))


_seen: dict[str, int] = {}  # key -> the attempts this process has made at it (seeded runs only)


def _draw(key: str):
    """The seeded decision for this attempt at `key`; the process's own randomness without a
    seed. A retry that lands in another process counts its attempts from 1 again: a seed
    replays which events meet a fault first, not every retry's fate."""
    seed = os.environ.get("FAULT_INJECTION_SEED", "")
    if not seed or not key:
        return random  # the module's own random() and choice()
    attempt = _seen[key] = _seen.get(key, 0) + 1
    return random.Random(f"{seed}:{os.environ.get('POWERTOOLS_SERVICE_NAME', '')}:{key}:{attempt}")


def fail_at(point: str | None, here: str) -> None:
    if point == here:
        raise FaultInjected(f"transient fault injected {here} (FAULT_INJECTION_RATE={_rate()})")


def duplicates() -> int:
    return _int("FAULT_INJECTION_DUPLICATES")


def reorder() -> bool:
    return _int("FAULT_INJECTION_REORDER") > 0


def _rate() -> float:
    try:
        return min(1.0, max(0.0, float(os.environ.get("FAULT_INJECTION_RATE", "0") or 0)))
    except ValueError:
        return 0.0


def _int(name: str) -> int:
    try:
        return max(0, int(os.environ.get(name, "0") or 0))
    except ValueError:
        return 0
