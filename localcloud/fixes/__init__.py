"""Where MiniStack differs from AWS in ways this system depends on, each difference fixed here
and only here, one module for each AWS service fixed (eventbridge, awslambda, dynamodb_streams,
apigateway, cognito, cloudformation, ssm, logs, xray), all written with `framework`. The server
(localcloud/server.py) applies them before it starts.

Each difference is written once, in docs/LOCAL-CLOUD.md, on the row naming its fix; a fix's
docstring says only how it works. tests/e2e/test_local_cloud_fidelity.py shows each difference
on an unpatched emulator and the fix on the patched one. tests/unit/test_local_cloud_fixes.py
applies them all, with no cloud running. A fix for another service goes in a module of its own,
named after the service, and in FIXES.
"""

from __future__ import annotations

from localcloud.fixes.apigateway import verify_api_signatures
from localcloud.fixes.awslambda import (
    durable_async_invokes,
    end_invocations_without_waiting_for_logs,
    finish_running_invocations_on_update,
    keep_workers_after_handled_errors,
)
from localcloud.fixes.cloudformation import accept_schema_registry, provision_event_archives
from localcloud.fixes.cognito import take_only_id_tokens_without_scopes
from localcloud.fixes.dynamodb_streams import honour_stream_source_settings, persist_stream_records
from localcloud.fixes.eventbridge import route_rule_targets_through_async_invoke, validate_put_events
from localcloud.fixes.framework import MINISTACK_VERSION, FixTargetChanged, check_version, log, patch, register, require
from localcloud.fixes.logs import (
    honour_advanced_logging_controls,
    paginate_filter_log_events,
    save_logs_while_functions_run,
)
from localcloud.fixes.ssm import serve_powertools_layer_parameter
from localcloud.fixes.xray import continue_traces_across_the_bus, serve_xray

FIXES = (
    validate_put_events,
    verify_api_signatures,
    take_only_id_tokens_without_scopes,
    route_rule_targets_through_async_invoke,
    serve_powertools_layer_parameter,
    provision_event_archives,
    honour_stream_source_settings,
    persist_stream_records,
    durable_async_invokes,
    keep_workers_after_handled_errors,
    finish_running_invocations_on_update,
    end_invocations_without_waiting_for_logs,
    save_logs_while_functions_run,  # before the fix below wraps the same writer
    honour_advanced_logging_controls,
    paginate_filter_log_events,
    accept_schema_registry,
    serve_xray,
    continue_traces_across_the_bus,
)


def apply_all() -> None:
    check_version()
    for fix in FIXES:
        fix()
        log.info("local-cloud fix applied: %s", fix.__name__)


__all__ = [
    "FIXES",
    "MINISTACK_VERSION",
    "FixTargetChanged",
    "apply_all",
    "check_version",
    "patch",
    "register",
    "require",
    *(fix.__name__ for fix in FIXES),
]
