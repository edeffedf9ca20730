"""Synthesize the app once per stage for every infrastructure test."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build

CDK_CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdk.json").read_text())["context"]


class Synthesized:
    def __init__(self, stage: str):
        app = cdk.App(context={**CDK_CONTEXT, "stage": stage})
        self.data_stack, self.services_stack = build(app)
        self.data = Template.from_stack(self.data_stack)
        self.services = Template.from_stack(self.services_stack)

    def templates(self) -> list[Template]:
        return [self.data, self.services]


@pytest.fixture(scope="session")
def dev() -> Synthesized:
    return Synthesized("dev")


@pytest.fixture(scope="session")
def prod() -> Synthesized:
    return Synthesized("prod")


def own_handler(properties: dict) -> str:
    """A function's own handler: its Handler, or, on a stage with fault injection, what the
    fault-injection wrapper runs (infra/constructs/platform_function.py)."""
    from infra.constructs.platform_function import FAULT_HANDLER_VARIABLE

    variables = properties.get("Environment", {}).get("Variables", {})
    return variables.get(FAULT_HANDLER_VARIABLE) or properties["Handler"]
