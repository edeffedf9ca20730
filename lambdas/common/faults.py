"""Fault injection: switches read from a function's environment, so a deployed function can be
made to fail on purpose (`make fault`, `make chaos`). No stack sets them (a test checks it) and
the tools refuse them on prod; unset, every switch is off.

  FAULT_INJECTION_EVENT_TYPES=ORDER_CREATED,...   fail every event of these types (consumers)
  FAULT_INJECTION_RATE=0.1                         fail this fraction of invocations at random:
                                                   half before the work, half after its effects
                                                   (a crash between the effect and the record of
                                                   it, which the retry must not repeat)
  FAULT_INJECTION_DUPLICATES=1                     the publisher sends each event this many
                                                   extra times (at-least-once delivery, worst case)
  FAULT_INJECTION_REORDER=1                        the publisher sends each batch newest first
                                                   (out-of-order delivery, worst case)
"""

from __future__ import annotations

import os
import random

SWITCHES = ("FAULT_INJECTION_EVENT_TYPES", "FAULT_INJECTION_RATE", "FAULT_INJECTION_DUPLICATES",
            "FAULT_INJECTION_REORDER")

BEFORE, AFTER = "before the work", "after the work's effects"


class FaultInjected(RuntimeError):
    """Raised on purpose by a fault-injection switch."""


def fail_for_type(event_type: str) -> None:
    types = os.environ.get("FAULT_INJECTION_EVENT_TYPES", "")
    if event_type in {t.strip() for t in types.split(",") if t.strip()}:
        raise FaultInjected(f"fault injected for {event_type} (FAULT_INJECTION_EVENT_TYPES)")


def random_failure_point() -> str | None:
    """Where this invocation is to fail (BEFORE or AFTER), or None: it does not."""
    rate = _rate()
    if rate <= 0 or random.random() >= rate:
        return None
    return random.choice((BEFORE, AFTER))


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
