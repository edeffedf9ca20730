"""`python -m localcloud up|down|status|invoke|logs`: the local cloud from the command line.

The Makefile wraps these (make up, make down, make invoke, make logs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from infra.runtime import PYTHON_RUNTIME
from localcloud.cloud import ROOT, LocalCloudError, Outputs, default_cloud
from localcloud.events import lambda_event_from_file


def runtime_note() -> str:
    """The Python the functions run on here, and the one they are deployed on: a warning when
    they differ (tests/unit/test_runtime_version.py checks lambdas/ against the deployed one)."""
    local = f"python{sys.version_info.major}.{sys.version_info.minor}"
    note = f"functions run on {local} here (the local cloud's own interpreter); deployed, on {PYTHON_RUNTIME}"
    if local != PYTHON_RUNTIME:
        note += (f"\nwarning: {local} is not {PYTHON_RUNTIME}: what runs here may not run there, or the reverse; "
                 f"make test checks that lambdas/ parses and imports for {PYTHON_RUNTIME}")
    return note


def up(args) -> None:
    cloud = default_cloud()
    started = time.monotonic()
    was_running = cloud.is_running()
    if not was_running:
        log_file = cloud.log_file.relative_to(ROOT) if cloud.log_file.is_relative_to(ROOT) else cloud.log_file
        print(f"starting the local cloud on {cloud.endpoint} (log: {log_file})")
        cloud.start()
    print("deploying with the CDK CLI (cdk deploy --all); unchanged stacks are skipped")
    outputs = cloud.deploy(quiet=not args.verbose)
    print(f"\nready in {time.monotonic() - started:.1f}s\n")
    print(runtime_note() + "\n")
    print(next_steps(outputs, cloud.port))


def next_steps(outputs: Outputs, port: int) -> str:
    endpoint = f"http://127.0.0.1:{port}"
    aws = f"aws --endpoint-url {endpoint}"
    lines = ["Stack outputs:"]
    for name, value in sorted(outputs.values.items()):
        if name.startswith("ExportsOutput"):
            continue  # cross-stack plumbing, not for people
        lines.append(f"  {name:42} {value}")
    lines += [
        f"  {'LocalApiUrl':42} {outputs.api_url}",
        "",
        "Try it with the local cloud's key pair, AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test:",
        "  # every route requires IAM authorization: curl signs with SigV4, and a wrong signature is a 403",
        """  api=(--aws-sigv4 "aws:amz:us-east-1:execute-api" --user "test:test" -H 'Content-Type: application/json')""",
        "  # place an order through the API, then read it back from the read model",
        f"  curl -s \"${{api[@]}}\" -X POST {outputs.api_url}/orders \\",
        """       -d '{"customerId":"cust-1","items":[{"productId":"SKU-1","quantity":2,"price":"19.99"}]}'""",
        f"  curl -s \"${{api[@]}}\" {outputs.api_url}/orders/<orderId>",
        "  # put a sample event on the bus with the AWS CLI; the projection writes the read model",
        f"  {aws} events put-events --entries file://events/order-created.json",
        f"  {aws} dynamodb get-item --table-name {outputs['OrdersTableName']} --key '{{\"orderId\":{{\"S\":\"sample-order-1\"}}}}'",
        "  # a malformed event is parked, with the reason, in the consumer's dead-letter queue",
        f"  {aws} events put-events --entries file://events/order-created-bad-total.json",
        f"  {aws} sqs receive-message --queue-url {outputs['OrdersProjectionDeadLetterQueueUrl']}",
        "  # invoke a deployed function, or run one locally against the cloud's tables",
        f"  {aws} lambda invoke --function-name {outputs.function_name('OrdersProjection')} "
        "--cli-binary-format raw-in-base64-out --payload file://events/lambda/order-created.json out.json",
        "  make invoke FN=OrdersProjection EVENT=events/order-created.json",
        "  make logs FN=OrdersProjection",
        "  make down",
    ]
    return "\n".join(lines)


def down(args) -> None:
    cloud = default_cloud()
    print("stopped the local cloud" if cloud.stop() else "the local cloud was not running")


def status(args) -> None:
    cloud = default_cloud()
    if not cloud.is_running():
        print(f"not running on {cloud.endpoint}")
        sys.exit(1)
    print(f"running on {cloud.endpoint}\n")
    print(runtime_note() + "\n")
    print(next_steps(cloud.outputs(), cloud.port))


def invoke(args) -> None:
    """Run a function's handler in a fresh interpreter, with the environment it has in the
    cloud, against the cloud's resources: no Docker, and the logs print as they happen."""
    cloud = default_cloud()
    outputs = cloud.outputs()
    import boto3

    name = outputs.function_name(args.function)
    config = boto3.client("lambda", **_client_args(cloud)).get_function_configuration(FunctionName=name)
    event = lambda_event_from_file(Path(args.event)) if args.event else {}
    env = {
        **os.environ,
        **config.get("Environment", {}).get("Variables", {}),
        **cloud.aws_env(),
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    runner = [sys.executable, "-m", "localcloud.run_handler", config["Handler"]]
    result = subprocess.run(runner, cwd=ROOT, env=env, input=json.dumps(event), text=True)
    sys.exit(result.returncode)


def logs(args) -> None:
    """Print a function's log lines, and keep following them with --follow."""
    cloud = default_cloud()
    import boto3

    group = cloud.outputs()[f"{args.function}LogGroupName"]
    client = boto3.client("logs", **_client_args(cloud))
    start = int((time.time() - args.since * 60) * 1000)
    seen: set[tuple] = set()
    while True:
        events = client.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start)
        for page in events:
            for event in page["events"]:
                # eventId is optional in MiniStack's answer: identify a line by where and when it was logged
                key = (event.get("logStreamName"), event["timestamp"], event["message"])
                if key not in seen:
                    seen.add(key)
                    print(event["message"].rstrip(), flush=True)
        if not args.follow:
            return
        time.sleep(1)


def _client_args(cloud) -> dict:
    env = cloud.aws_env()
    return {
        "endpoint_url": cloud.endpoint,
        "region_name": env["AWS_REGION"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_cmd = commands.add_parser("up", help="start the local cloud and deploy every stack")
    up_cmd.add_argument("--verbose", action="store_true", help="show the CDK CLI's output")
    commands.add_parser("down", help="stop the local cloud (its state is kept in .local-cloud/)")
    commands.add_parser("status", help="is it running, and what is deployed")
    invoke_cmd = commands.add_parser("invoke", help="run a function locally with a sample event")
    invoke_cmd.add_argument("function", help="construct name, e.g. OrdersProjection, Publisher, OrdersApi")
    invoke_cmd.add_argument("event", nargs="?", help="a Lambda event, or an events/*.json put-events file")
    logs_cmd = commands.add_parser("logs", help="print (or --follow) a function's logs")
    logs_cmd.add_argument("function")
    logs_cmd.add_argument("--follow", action="store_true")
    logs_cmd.add_argument("--since", type=float, default=60, help="minutes back to start from (60)")
    args = parser.parse_args(argv)
    try:
        {"up": up, "down": down, "status": status, "invoke": invoke, "logs": logs}[args.command](args)
    except LocalCloudError as error:
        sys.exit(f"error: {error}")
    except (KeyboardInterrupt, BrokenPipeError):
        pass


if __name__ == "__main__":
    main()
