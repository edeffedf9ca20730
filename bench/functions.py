"""Every deployed function by name, with its handler and the environment it runs with."""

from __future__ import annotations

from infra.consumers import CONSUMERS
from infra.consumers import FUNCTIONS as SPECS

HANDLERS: dict[str, str] = {spec.name: spec.handler for spec in SPECS}  # every function: its handler
CONSUMER_NAMES = [consumer.name for consumer in CONSUMERS]
BUS = "bench-bus"


def lambda_environment(name: str) -> dict[str, str]:
    """What the Lambda runtime and the stacks set for a function, as deployed. The runtime's own
    variables matter to the libraries: without LAMBDA_TASK_ROOT the X-Ray SDK (measured by
    bench/tracing.py) takes its path for a server, and builds an X-Ray client for centralised
    sampling at import (about 100 ms that no function pays in Lambda)."""
    from tests.support import aws

    return {
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "POWERTOOLS_SERVICE_NAME": name,
        "POWERTOOLS_METRICS_NAMESPACE": "OrderPlatform",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "STAGE": "dev",
        **aws.environment(bus=BUS),  # each function's Settings, naming the tables tests/support/aws.py creates
    }


def handler_of(name: str) -> str:
    """A function's handler, as infra/consumers.py declares it when asked (a consumer added to
    CONSUMERS since this module was imported included)."""
    from infra import consumers as declared

    for spec in (*declared.FUNCTIONS, *declared.CONSUMERS):
        if spec.name == name:
            return spec.handler
    raise KeyError(f"no function {name} in infra/consumers.py")
