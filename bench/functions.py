"""Every deployed function by name, with its handler and the environment it runs with."""

from __future__ import annotations

from infra.consumers import CONSUMERS, HTTP_SERVICES

FUNCTIONS: dict[str, str] = {
    "Publisher": "publisher.handler.handler",
    "SagaSweep": "saga.sweep.handler",
    "AnalyticsFold": "analytics.fold.handler",
    **{service.name: service.handler for service in HTTP_SERVICES},
    **{consumer.name: consumer.handler for consumer in CONSUMERS},
}
CONSUMER_NAMES = [consumer.name for consumer in CONSUMERS]

SETTINGS = ("EVENT_STORE_TABLE_NAME", "ORDERS_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "USER_EMAILS_TABLE_NAME",
            "INVENTORY_TABLE_NAME", "EMAIL_LOG_TABLE_NAME", "ANALYTICS_TABLE_NAME", "ANALYTICS_EVENTS_TABLE_NAME", "AUDIT_TABLE_NAME",
            "EVENT_BUS_NAME")


def lambda_environment(name: str) -> dict[str, str]:
    """What the Lambda runtime and the stacks set for a function (tracing on, as deployed). The
    runtime's own variables matter: without LAMBDA_TASK_ROOT the X-Ray SDK takes its path for a
    server, and builds an X-Ray client for centralised sampling at import (about 100 ms that no
    function pays in Lambda, where Lambda makes the sampling decision)."""
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
        "EMAIL_SENDER": "orders@bench.example.com",
        **{setting: f"bench-{setting.lower()}" for setting in SETTINGS},
    }
