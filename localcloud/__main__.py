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
from localcloud.events import lambda_event_from_file, stored_event


def runtime_note() -> str:
    """The Python the functions run on here, and the one they are deployed on: a warning when
    they differ (tests/unit/test_runtime_version.py checks lambdas/ against the deployed one)."""
    local = f"python{sys.version_info.major}.{sys.version_info.minor}"
    note = f"functions run on {local} here (the local cloud's own interpreter); deployed, on {PYTHON_RUNTIME}"
    if local != PYTHON_RUNTIME:
        note += (
            f"\nwarning: {local} is not {PYTHON_RUNTIME}: what runs here may not run there, or the reverse; "
            f"make test checks that lambdas/ parses and imports for {PYTHON_RUNTIME}"
        )
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
        "  # a customer's ID token from the user pool (signed up on first use): customer routes take it",
        "  TOKEN=$(make -s token EMAIL=ada@example.com)",
        """  customer=(-H "Authorization: $TOKEN" -H 'Content-Type: application/json')""",
        "  # staff routes (stock, analytics, audit) take IAM: curl signs with SigV4; a customer's token is a 403",
        """  staff=(--aws-sigv4 aws:amz:us-east-1:execute-api --user test:test -H 'Content-Type: application/json')""",
        "  # staff price a product; a customer orders it (priced from the catalog), then reads it back",
        f'  curl -s "${{staff[@]}}" -X PUT {outputs.api_url}/inventory/SKU-1/prices \\',
        """       -d '{"prices":{"EUR":"19.99"}}'""",
        f'  curl -s "${{customer[@]}}" -X POST {outputs.api_url}/orders \\',
        """       -d '{"items":[{"productId":"SKU-1","quantity":2}]}'""",
        f'  curl -s "${{customer[@]}}" {outputs.api_url}/orders/<orderId>',
        f'  curl -s "${{staff[@]}}" -X PUT {outputs.api_url}/inventory/SKU-1 -d \'{{"quantity":40}}\'',
        "  # a sample event put by hand: audit records it; the projection, the mailer, analytics, payments",
        "  # and reservations act only on events the event store holds, and park it with that reason",
        f"  {aws} events put-events --entries file://events/order-created.json",
        f"  {aws} sqs receive-message --queue-url {outputs['OrdersProjectionDeadLetterQueueUrl']}",
        "  # run a function here against the cloud's tables, on an event the store holds (an order's version 1)",
        "  make invoke FN=OrdersProjection EVENT=store:<orderId>/1",
        f"  {aws} lambda invoke --function-name {outputs.function_name('Audit')} "
        "--payload fileb://events/lambda/order-created.json out.json",
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
    event = _event(cloud, outputs, args.event) if args.event else {}
    env = {
        **os.environ,
        **config.get("Environment", {}).get("Variables", {}),
        **cloud.aws_env(),
        "AWS_LAMBDA_FUNCTION_NAME": name,
    }
    runner = [sys.executable, "-m", "localcloud.run_handler", config["Handler"]]
    result = subprocess.run(runner, cwd=ROOT, env=env, input=json.dumps(event), text=True)
    sys.exit(result.returncode)


def _event(cloud, outputs: Outputs, name: str) -> dict:
    """A sample file (events/*.json, or a Lambda event), or `store:<aggregateId>/<version>`: that
    event as the event store holds it, delivered as its rule target receives it."""
    if not name.startswith("store:"):
        return lambda_event_from_file(Path(name))
    import boto3

    aggregate_id, _, version = name.removeprefix("store:").rpartition("/")
    item = (
        boto3.client("dynamodb", **_client_args(cloud))
        .get_item(
            TableName=outputs["EventStoreTableName"],
            ConsistentRead=True,
            Key={"aggregateId": {"S": aggregate_id}, "version": {"N": version or "0"}},
        )
        .get("Item")
    )
    if item is None:
        raise LocalCloudError(f"the event store holds no version {version!r} of {aggregate_id!r}")
    return stored_event(item)


def token(args) -> None:
    """A test customer's ID token, printed alone: signed up (and confirmed) on first use."""
    cloud = default_cloud()
    from localcloud.customers import TEST_PASSWORD, Customers

    customers = Customers(cloud.outputs(), cloud.aws_env(), cloud.endpoint)
    print(customers.token_for(args.email, TEST_PASSWORD))


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
    invoke_cmd.epilog = "EVENT may be store:<aggregateId>/<version>, an event the event store holds"
    token_cmd = commands.add_parser("token", help="a test customer's ID token (signed up on first use)")
    token_cmd.add_argument("email")
    logs_cmd = commands.add_parser("logs", help="print (or --follow) a function's logs")
    logs_cmd.add_argument("function")
    logs_cmd.add_argument("--follow", action="store_true")
    logs_cmd.add_argument("--since", type=float, default=60, help="minutes back to start from (60)")
    args = parser.parse_args(argv)
    try:
        {"up": up, "down": down, "status": status, "invoke": invoke, "token": token, "logs": logs}[args.command](args)
    except LocalCloudError as error:
        sys.exit(f"error: {error}")
    except (KeyboardInterrupt, BrokenPipeError):
        pass


if __name__ == "__main__":
    main()
