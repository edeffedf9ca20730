"""Turn a deployed function's fault-injection switches on or off, to rehearse a failure:

    python -m ops.fault Analytics --types ORDER_CREATED    # it now fails those events
    python -m ops.fault Analytics --rate 0.1               # and 10% of its invocations at random
    python -m ops.fault Analytics --rate 0.1 --seed 7      # the same 10% of events each time (seeded)
    python -m ops.fault Publisher --duplicates 1 --reorder # every event twice, batches newest first
    python -m ops.fault Audit --rate 0.1 --timeout         # the faults are timeouts part-way
    python -m ops.fault OrdersApi --throttle 0.05          # 5% of its AWS calls throttled
    python -m ops.fault Publisher --partial-put 0.2        # PutEvents fails 20% of the entries
    python -m ops.fault Analytics                          # every switch off again

The switches are environment variables that no stack sets (a test checks it), read by the
fault-injection layer the stacks attach to dev's functions
(fault_injection/python/platform_faults/): prod carries neither the layer nor a switch, and the
tool refuses it.
"""

from __future__ import annotations

import argparse
import os
import sys

import boto3

from ops.deployment import stack_outputs
from platform_faults.switches import (
    DUPLICATES,
    EVENT_TYPES,
    PARTIAL_PUT,
    RATE,
    REFUSED_ON,
    REORDER,
    SEED,
    THROTTLE,
    TIMEOUT,
)


def set_switches(function_name: str, switches: dict[str, str | None], *, client=None) -> None:
    """Set these switches (None or "": off) and leave the function's other variables alone."""
    lambda_ = client or boto3.client("lambda")
    variables = lambda_.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"]
    for name, value in switches.items():
        variables.pop(name, None)
        if value:
            variables[name] = value
    lambda_.update_function_configuration(FunctionName=function_name, Environment={"Variables": variables})
    lambda_.get_waiter("function_updated_v2").wait(
        FunctionName=function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )


def set_fault(function_name: str, event_types: str | None, *, client=None) -> None:
    set_switches(function_name, {EVENT_TYPES: event_types}, client=client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.fault", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("function", help="e.g. Analytics, Audit, Email, OrdersProjection, Publisher")
    parser.add_argument("--types", default="", help="comma-separated event types to fail")
    parser.add_argument("--rate", type=float, default=0, help="fraction of invocations to fail at random (0-1)")
    parser.add_argument("--seed", type=int, default=None, help="with a rate: fault the same events and calls each time")
    parser.add_argument("--duplicates", type=int, default=0, help="publisher: extra copies of every event")
    parser.add_argument("--reorder", action="store_true", help="publisher: each batch newest first")
    parser.add_argument("--timeout", action="store_true", help="with --rate: each fault hangs to the timeout")
    parser.add_argument("--throttle", type=float, default=0, help="fraction of AWS calls throttled (0-1)")
    parser.add_argument("--partial-put", type=float, default=0, help="fraction of PutEvents entries failed (0-1)")
    parser.add_argument("--stage", default=None)
    args = parser.parse_args(argv)
    stage = args.stage or os.environ.get("STAGE", "dev")
    if stage == REFUSED_ON:
        parser.error(f"fault injection is refused on {stage} (its functions read every switch as off)")
    for name in ("rate", "throttle", "partial_put"):
        if not 0 <= getattr(args, name) <= 1:
            parser.error(f"--{name.replace('_', '-')} is a fraction between 0 and 1")
    switches = {
        EVENT_TYPES: args.types,
        RATE: str(args.rate) if args.rate else None,
        SEED: str(args.seed) if (args.rate or args.throttle or args.partial_put) and args.seed is not None else None,
        DUPLICATES: str(args.duplicates) if args.duplicates else None,
        REORDER: "1" if args.reorder else None,
        TIMEOUT: "1" if args.rate and args.timeout else None,
        THROTTLE: str(args.throttle) if args.throttle else None,
        PARTIAL_PUT: str(args.partial_put) if args.partial_put else None,
    }
    set_switches(stack_outputs(stage)[f"{args.function}FunctionName"], switches)
    on = [f"{name}={value}" for name, value in switches.items() if value]
    print(f"{args.function}: " + (", ".join(on) if on else "fault injection off"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
