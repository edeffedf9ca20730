"""Turn a deployed consumer's fault-injection switch on or off, to rehearse a failure:

    python -m ops.fault Analytics --types ORDER_CREATED    # it now fails those events
    python -m ops.fault Analytics                          # fixed again

The switch is the function's FAULT_INJECTION_EVENT_TYPES variable, which no stack sets (a
test checks it). It is refused on prod.
"""

from __future__ import annotations

import argparse
import os
import sys

import boto3

from ops.deployment import stack_outputs

SWITCH = "FAULT_INJECTION_EVENT_TYPES"


def set_fault(function_name: str, event_types: str | None, *, client=None) -> None:
    lambda_ = client or boto3.client("lambda")
    variables = lambda_.get_function_configuration(FunctionName=function_name)["Environment"]["Variables"]
    variables.pop(SWITCH, None)
    if event_types:
        variables[SWITCH] = event_types
    lambda_.update_function_configuration(FunctionName=function_name, Environment={"Variables": variables})
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.fault", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("consumer", help="e.g. Analytics, Audit, Email, OrdersProjection")
    parser.add_argument("--types", default="", help="comma-separated event types to fail (none: clear the switch)")
    parser.add_argument("--stage", default=None)
    args = parser.parse_args(argv)
    stage = args.stage or os.environ.get("STAGE", "dev")
    if stage == "prod":
        parser.error("fault injection is refused on prod")
    function = stack_outputs(stage)[f"{args.consumer}FunctionName"]
    set_fault(function, args.types or None)
    print(f"{args.consumer}: " + (f"fails {args.types}" if args.types else "fault injection off"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
