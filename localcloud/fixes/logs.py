"""CloudWatch Logs: what a function's logging configuration lets in."""

from __future__ import annotations

import inspect
import json
import time
from typing import Any

from localcloud.fixes.framework import FixTargetChanged, patch, require

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
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Apply ApplicationLogLevel and SystemLogLevel where MiniStack writes a function's log lines,
    and write the platform's records as JSON under LogFormat JSON."""
    import threading

    from ministack.services import cloudwatch_logs, lambda_svc

    emitting = threading.local()
    emit, append = lambda_svc._emit_lambda_logs, cloudwatch_logs._append_log_events
    if "LoggingConfig" not in inspect.getsource(inspect.unwrap(emit)):  # MiniStack's, under any fix's lock
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


def paginate_filter_log_events() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Answer a page of at most 10,000 events at a time, the token being how many matching events
    the pages before it held."""
    import heapq
    from bisect import bisect_left, bisect_right

    from ministack.core.responses import error_response_json, json_response
    from ministack.services import cloudwatch_logs as cwl

    def paginated(_original):
        def filter_log_events(data):
            group = cwl._resolve_log_group_name(data)
            matches = cwl._compile_filter_pattern(data.get("filterPattern", ""))
            limit = min(int(data.get("limit") or 10000), 10000)
            skip = int(data.get("nextToken") or 0)
            start_time, end_time = data.get("startTime"), data.get("endTime")
            if group not in cwl._log_groups:
                return error_response_json(
                    "ResourceNotFoundException", f"The specified log group does not exist: {group}", 400
                )
            streams = cwl._log_groups[group]["streams"]
            ranges = []
            with cwl._log_events_lock:
                for name in data.get("logStreamNames") or list(streams):
                    stream = streams.get(name)
                    if stream is None:
                        continue
                    history = list(stream["events"])
                    start = bisect_left(history, start_time, key=cwl._event_timestamp) if start_time is not None else 0
                    end = (
                        bisect_right(history, end_time, key=cwl._event_timestamp)
                        if end_time is not None
                        else len(history)
                    )
                    ranges.append([(event, name) for event in history[start:end]])
            events: list[dict[str, Any]] = []
            seen, more = 0, False
            ordered = heapq.merge(*ranges, key=lambda entry: (entry[0]["timestamp"], entry[0].get("ingestionTime", 0)))
            for event, name in ordered:
                if not matches(event.get("message", "")):
                    continue
                seen += 1
                if seen <= skip:
                    continue
                if len(events) == limit:
                    more = True
                    break
                events.append({**event, "logStreamName": name})
            answer: dict[str, Any] = {"events": events, "searchedLogStreams": []}
            if more:
                answer["nextToken"] = str(skip + len(events))
            return json_response(answer)

        return filter_log_events

    fix = "paginate_filter_log_events"
    require(
        cwl,
        "_resolve_log_group_name",
        "_compile_filter_pattern",
        "_log_groups",
        "_log_events_lock",
        "_event_timestamp",
        fix=fix,
    )
    patch(cwl, "_filter_log_events", paginated, fix=fix, params=("data",))


def save_logs_while_functions_run() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    One reentrant lock, MiniStack's own lock for log events made reentrant, held by each
    invocation's log writing (its group, its stream, its lines) and by the copy of the groups
    saved on the way out: the copy is taken while no invocation writes, so it is whole."""
    import functools
    import threading

    from ministack.services import cloudwatch_logs as cwl
    from ministack.services import lambda_svc

    fix = "save_logs_while_functions_run"
    require(cwl, "_log_events_lock", fix=fix)
    lock = threading.RLock()
    cwl._log_events_lock = lock  # `_append_log_events` takes it again inside an invocation's writing

    def locked(original):
        @functools.wraps(original)
        def under_lock(*args, **kwargs):
            with lock:
                return original(*args, **kwargs)

        return under_lock

    patch(
        lambda_svc,
        "_emit_lambda_logs",
        locked,
        fix=fix,
        params=("func", "request_id", "log_text", "error", "duration_ms", "log_source"),
    )
    patch(cwl, "get_state", locked, fix=fix, params=())
