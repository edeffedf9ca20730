"""CloudWatch Logs: what a function's logging configuration lets in."""

from __future__ import annotations

import inspect
import json
import time
from typing import Any

from localcloud.fixes.framework import FixTargetChanged, patch

_LOG_LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4, "FATAL": 5, "CRITICAL": 5}


_PLATFORM_LINES = (
    ("START RequestId:", "platform.start"),
    ("END RequestId:", "platform.runtimeDone"),
    ("REPORT RequestId:", "platform.report"),
)


# The shape (and so the size) of the rest of each platform record as AWS writes it.
_PLATFORM_RECORD: dict[str, dict[str, Any]] = {
    "platform.start": {"version": "$LATEST"},
    "platform.runtimeDone": {"status": "success", "metrics": {"durationMs": 12.345, "producedBytes": 0}},
    "platform.report": {
        "metrics": {"durationMs": 12.345, "billedDurationMs": 13, "memorySizeMB": 256, "maxMemoryUsedMB": 90},
        "status": "success",
    },
}


def honour_advanced_logging_controls() -> None:
    """AWS: a function whose LoggingConfig has LogFormat JSON writes the platform's START, END
    and REPORT as JSON records (platform.start, platform.runtimeDone, platform.report), and only
    when SystemLogLevel is INFO or lower; application records in JSON with a level below
    ApplicationLogLevel are dropped before they are ingested (and billed). MiniStack 1.5.33
    keeps LoggingConfig but writes every line as text. Apply both levels where it writes a
    function's log lines."""
    import threading

    from ministack.services import cloudwatch_logs, lambda_svc

    emitting = threading.local()
    emit, append = lambda_svc._emit_lambda_logs, cloudwatch_logs._append_log_events
    if "LoggingConfig" not in inspect.getsource(emit):
        raise FixTargetChanged("MiniStack's _emit_lambda_logs changed: review honour_advanced_logging_controls")

    def emit_with_levels(func, request_id, log_text, error, duration_ms, **kwargs):
        config = func.get("config") or func
        emitting.logging = config.get("LoggingConfig") or {}
        try:
            return emit(func, request_id, log_text, error, duration_ms, **kwargs)
        finally:
            emitting.logging = None

    def append_with_levels(stream, events):
        logging_config = getattr(emitting, "logging", None)
        if logging_config and logging_config.get("LogFormat") == "JSON":
            events = [e for e in (_as_json_record(e, logging_config) for e in events) if e is not None]
        return append(stream, events)

    fix = "honour_advanced_logging_controls"
    patch(
        lambda_svc,
        "_emit_lambda_logs",
        lambda _: emit_with_levels,
        fix=fix,
        params=("func", "request_id", "log_text", "error", "duration_ms", "log_source"),
    )
    patch(cloudwatch_logs, "_append_log_events", lambda _: append_with_levels, fix=fix, params=("stream", "events"))


def _as_json_record(event: dict, logging_config: dict) -> dict | None:
    """A log event as AWS ingests it for a JSON-format function (None: below its level)."""
    message = str(event.get("message", ""))
    for prefix, kind in _PLATFORM_LINES:
        if message.startswith(prefix):
            if _LOG_LEVELS[logging_config.get("SystemLogLevel", "INFO")] > _LOG_LEVELS["INFO"]:
                return None
            request_id = message.split(prefix, 1)[1].split()[0]
            record = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(event["timestamp"] / 1000)),
                "type": kind,
                "record": {"requestId": request_id, **_PLATFORM_RECORD[kind]},
            }
            return {**event, "message": json.dumps(record, separators=(",", ":"))}
    try:
        level = json.loads(message).get("level") if message.startswith("{") else None
    except (ValueError, AttributeError):
        level = None
    threshold = _LOG_LEVELS[logging_config.get("ApplicationLogLevel", "INFO")]
    if isinstance(level, str) and _LOG_LEVELS.get(level.upper(), threshold) < threshold:
        return None
    return event
