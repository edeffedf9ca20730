"""Logger, Tracer and Metrics for every function, named after the service they belong to."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

# POWERTOOLS_SERVICE_NAME (set per function by infra/) names the service in logs and traces.
logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="OrderPlatform")
