"""Find a deployed stage: its stacks' outputs, read from CloudFormation."""

from __future__ import annotations

import os

import boto3

from infra.names import stack_names


class NotDeployed(RuntimeError):
    pass


def stack_outputs(stage: str | None = None, *, client=None) -> dict[str, str]:
    """Every output of the stage's two stacks, by output name."""
    stage = stage or os.environ.get("STAGE", "dev")
    cloudformation = client or boto3.client("cloudformation")
    values: dict[str, str] = {}
    for stack in stack_names(stage):
        try:
            description = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        except cloudformation.exceptions.ClientError as error:
            raise NotDeployed(f"stack {stack} is not deployed ({error.response['Error']['Message']})") from None
        values |= {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}
    return values


def progress(done: int, total: int, width: int = 30) -> str:
    """A text progress bar: [#########.....]  45% (45/100)."""
    fraction = min(1.0, done / total) if total else 1.0
    filled = int(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} ({done}/{total})"
