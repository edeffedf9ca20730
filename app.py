#!/usr/bin/env python3
"""CDK entry point: the order platform's two stacks for one stage (-c stage=dev|prod)."""

import sys
from pathlib import Path

# The event catalog lives with the functions (lambdas/) and the rules are built from it.
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambdas"))

import infra  # noqa: E402,F401  (first: it quiets jsii's Node.js warnings before the CDK loads)
import aws_cdk as cdk  # noqa: E402

from infra.compliance import apply_checks  # noqa: E402
from infra.config import StageConfig  # noqa: E402
from infra.consumers import CONSUMERS  # noqa: E402
from infra.stateful_stack import StatefulStack  # noqa: E402
from infra.stateless_stack import StatelessStack  # noqa: E402


def build(app: cdk.App) -> tuple[StatefulStack, StatelessStack]:
    config = StageConfig.for_stage(
        app.node.try_get_context("stage") or "dev", email_sender=app.node.try_get_context("emailSender")
    )
    prefix = f"OrderPlatform-{config.stage}"
    data = StatefulStack(app, f"{prefix}-Data", config=config, consumers=CONSUMERS)
    services = StatelessStack(app, f"{prefix}-Services", config=config, data=data)
    apply_checks(app)  # cdk-nag: an unsuppressed finding fails the synth
    return data, services


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
