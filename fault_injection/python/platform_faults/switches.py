"""The fault switches, read from a function's environment, so that a deployed function can be
made to fail on purpose (`make fault`, `make chaos`), and the faults they make. They live in the
fault-injection layer (fault_injection/), which the stacks attach only to a stage that allows it
(StageConfig.fault_injection: dev), with this layer's wrapper as the function's handler: prod
carries neither the layer nor a switch. Should a switch be set on prod all the same, it reads as
off (`setting`); the tools refuse them there too. Unset, every switch is off.

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
  FAULT_INJECTION_REORDER=1                        each stream batch is handed over newest first
                                                   (out-of-order delivery, worst case: the chaos
                                                   suite sets it on the Publisher)
  FAULT_INJECTION_TIMEOUT=1                        with the rate: every fault is a timeout part-way,
                                                   after the work's effects: the function hangs
                                                   until the runtime stops it
  FAULT_INJECTION_THROTTLE=0.05                    this fraction of the AWS calls the function makes
                                                   meet a throttle burst: the service's own throttling
                                                   error (DynamoDB ProvisionedThroughputExceeded or
                                                   ThrottlingException, EventBridge and SQS
                                                   ThrottlingException, SES Throttling, Lambda
                                                   TooManyRequestsException) for 1, 2 or every attempt
                                                   the SDK makes, a third each: the last reaches the
                                                   code as the ClientError AWS would raise
  FAULT_INJECTION_PARTIAL_PUT=0.2                  PutEvents fails this fraction of each call's entries
                                                   (FailedEntryCount > 0; the others are delivered)

The last two, and DUPLICATES, act on the SDK (platform_faults.sdk, installed before the
function's own module makes a client), answering from the SDK's own request path: its retries,
its error parsing and its exceptions are the real ones.
"""

from __future__ import annotations

import json
import os
import random
import time

EVENT_TYPES = "FAULT_INJECTION_EVENT_TYPES"
RATE = "FAULT_INJECTION_RATE"
SEED = "FAULT_INJECTION_SEED"
DUPLICATES = "FAULT_INJECTION_DUPLICATES"
REORDER = "FAULT_INJECTION_REORDER"
TIMEOUT = "FAULT_INJECTION_TIMEOUT"
THROTTLE = "FAULT_INJECTION_THROTTLE"
PARTIAL_PUT = "FAULT_INJECTION_PARTIAL_PUT"
SWITCHES = (EVENT_TYPES, RATE, SEED, DUPLICATES, REORDER, TIMEOUT, THROTTLE, PARTIAL_PUT)
# What the stacks set beside the layer: the function's own handler, which the wrapper runs.
HANDLER = "FAULT_INJECTION_HANDLER"

BEFORE, AFTER = "before the work", "after the work's effects"
REFUSED_ON = "prod"  # the stage (STAGE, set on every function by the stacks) no switch works on


def setting(name: str) -> str:
    """A switch's setting as this function may act on it: "" (off) on prod, whatever is set."""
    if name not in SWITCHES:
        raise KeyError(f"{name} is not a fault switch")
    if os.environ.get("STAGE") == REFUSED_ON:
        return ""
    return os.environ.get(name, "")


class FaultInjected(RuntimeError):
    """Raised on purpose by a fault-injection switch."""


def fail_for_type(event_type: str) -> None:
    types = setting(EVENT_TYPES)
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
    point = draw.choice((BEFORE, AFTER))
    return AFTER if _int(TIMEOUT) else point


_seen: dict[str, int] = {}  # key -> the attempts this process has made at it (seeded runs only)


def _draw(key: str):
    """The seeded decision for this attempt at `key`; the process's own randomness without a
    seed. A retry that lands in another process counts its attempts from 1 again: a seed
    replays which events meet a fault first, not every retry's fate."""
    if not setting(SEED) or not key:
        return random  # the module's own random() and choice()
    attempt = _seen[key] = _seen.get(key, 0) + 1
    return _seeded(f"{key}:{attempt}")


def _seeded(key: str):
    """A draw from the seed, this function and `key` (the module's own randomness unseeded)."""
    seed = setting(SEED)
    if not seed:
        return random
    return random.Random(f"{seed}:{os.environ.get('POWERTOOLS_SERVICE_NAME', '')}:{key}")


def fail_at(point: str | None, here: str, context=None) -> None:
    if point != here:
        return
    if _int(TIMEOUT):
        _hang(context)
    raise FaultInjected(f"transient fault injected {here} (FAULT_INJECTION_RATE={_rate()})")


def _hang(context) -> None:
    """A timeout part-way: the work's effects are done and the function never answers. The
    runtime stops it at its timeout; should it not, the fault still fails the invocation."""
    left = context.get_remaining_time_in_millis() / 1000 if context is not None else 900.0
    _log("fault injected: hanging until the function's timeout", secondsLeft=round(left, 1))
    time.sleep(left + 1)
    raise FaultInjected("timed out part-way (FAULT_INJECTION_TIMEOUT): the runtime did not stop the function")


def _log(message: str, **fields) -> None:
    """A WARNING record of what a switch did, as the function's JSON logs write it."""
    print(json.dumps({"level": "WARNING", "message": message, **fields}), flush=True)


def duplicates() -> int:
    return _int(DUPLICATES)


def reorder() -> bool:
    return _int(REORDER) > 0


def _rate() -> float:
    return fraction(RATE)


def _int(name: str) -> int:
    try:
        return max(0, int(setting(name) or 0))
    except ValueError:
        return 0


def fraction(name: str) -> float:
    try:
        return min(1.0, max(0.0, float(setting(name) or 0)))
    except ValueError:
        return 0.0
