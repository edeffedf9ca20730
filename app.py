#!/usr/bin/env python3
"""CDK entry point: the order platform's two stacks for one stage (-c stage=dev|prod)."""

import aws_cdk as cdk

import infra  # noqa: F401  (first: it quiets jsii's Node.js warnings before the CDK loads)
from infra.compliance import apply_checks
from infra.config import StageConfig
from infra.consumers import CONSUMERS, ConsumerSpec
from infra.names import stack_names
from infra.stateful_stack import StatefulStack
from infra.stateless_stack import StatelessStack


def build(app: cdk.App, consumers: tuple[ConsumerSpec, ...] = CONSUMERS) -> tuple[StatefulStack, StatelessStack]:
    config = StageConfig.for_stage(
        app.node.try_get_context("stage") or "dev", email_sender=app.node.try_get_context("emailSender")
    )
    data_stack, services_stack = stack_names(config.stage)
    data = StatefulStack(app, data_stack, config=config, consumers=consumers)
    services = StatelessStack(app, services_stack, config=config, data=data, consumers=consumers)
    apply_checks(app)  # cdk-nag: an unsuppressed finding fails the synth
    return data, services


if __name__ == "__main__":
    app = cdk.App()
    build(app)
    app.synth()
