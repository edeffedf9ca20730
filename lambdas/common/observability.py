"""Logger and log context for every function, named after the service it belongs to (tracing:
common/tracing.py)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from aws_lambda_powertools import Logger

# POWERTOOLS_SERVICE_NAME (set per function by infra/) names the service in logs and traces.
logger = Logger(xray_trace_id=None)  # not on every line: see REPEATED_KEYS
# The SDK's DEBUG lines hold every request and answer whole (an address put, a name read), and
# a function's log level set to DEBUG sets the root logger's: the SDK stays at WARNING whatever
# the level, so a function's logs say only what its own lines say.
for _sdk in ("boto3", "botocore", "urllib3"):
    logging.getLogger(_sdk).setLevel(logging.WARNING)
# What every line would repeat and nobody searches by (the log group, the REPORT record and
# CloudWatch's own timestamp of each event say them): each byte ingested is billed. Logger adds
# them back with each invocation's context.
# cold_start too: the REPORT record's Init Duration says it, once an environment. service: the
# log group is the function's. And xray_trace_id (switched off in Logger itself): 19 traces in
# 20 are not recorded (the default rule's 5%), while the correlation id, on every line, follows
# an order through every function and the audit log. function_request_id stays: a failed
# invocation's error record names only it.
REPEATED_KEYS = (
    "function_arn",
    "function_memory_size",
    "function_name",
    "location",
    "timestamp",
    "cold_start",
    "service",
)


def log_context(handler: Callable | None = None, *, correlation_id_path: str | None = None):
    """logger.inject_lambda_context, less the keys every line would repeat."""
    if handler is None:
        return lambda fn: log_context(fn, correlation_id_path=correlation_id_path)

    @functools.wraps(handler)
    def slim(event, context):
        logger.remove_keys(list(REPEATED_KEYS))
        return handler(event, context)

    return logger.inject_lambda_context(slim, correlation_id_path=correlation_id_path)
