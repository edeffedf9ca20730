"""X-Ray: the local X-Ray served (localcloud/xray.py), and traces continued across the bus."""

from __future__ import annotations

import secrets
import time
from contextvars import ContextVar, Token

from localcloud.fixes.framework import patch, register


def serve_xray() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Serve the local cloud's X-Ray (localcloud/xray.py)."""
    from ministack import app

    from localcloud import xray

    register(
        app.SERVICE_HANDLERS, "xray", xray.handle_request, fix="serve_xray", where="ministack.app.SERVICE_HANDLERS"
    )


# The trace an invocation is to continue (an EventBridge entry's TraceHeader), and what the
# invocation running in this thread was given (its header, and the segment it continues).
inbound_trace: ContextVar[str | None] = ContextVar("inbound_trace", default=None)


_invocation: ContextVar[dict | None] = ContextVar("invocation", default=None)


_entry_traces: ContextVar[list | None] = ContextVar("entry_traces", default=None)


class continuing:
    """Within it, an invocation continues `header`'s trace."""

    def __init__(self, header: str | None):
        self._header = header
        self._token: Token[str | None] | None = None

    def __enter__(self):
        self._token = inbound_trace.set(self._header)

    def __exit__(self, *_):
        if self._token is not None:
            inbound_trace.reset(self._token)


def continue_traces_across_the_bus() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Carry each entry's TraceHeader to its targets' invocations (through the durable async queue:
    retries stay in the trace), decide each invocation's trace as Lambda does, and record its
    segment in the local X-Ray."""
    from ministack.services import eventbridge
    from ministack.services import lambda_svc as svc

    from localcloud import xray

    def key(entry: dict) -> tuple:
        return entry.get("Source"), entry.get("DetailType"), entry.get("Detail")

    def put_events(original):
        def remembering(data, allow_aws_source=False):
            entries = data.get("Entries") if isinstance(data, dict) else None
            traces = [(key(e), e["TraceHeader"]) for e in entries or [] if isinstance(e, dict) and e.get("TraceHeader")]
            token = _entry_traces.set(traces)
            try:
                return original(data, allow_aws_source)
            finally:
                _entry_traces.reset(token)

        return remembering

    def dispatch_event(original):
        def in_its_trace(event, view=None):
            traces = _entry_traces.get() or []
            found = next((n for n, (k, _) in enumerate(traces) if k == key(event)), None)
            with continuing(traces.pop(found)[1] if found is not None else None):
                return original(event, view)

        return in_its_trace

    def trace_for(original):
        def decide(config, inbound_trace_header=None):
            inbound = inbound_trace_header or inbound_trace.get()
            inbound = inbound if isinstance(inbound, str) else None
            active = (config.get("TracingConfig") or {}).get("Mode") == "Active"
            fields = dict(part.split("=", 1) for part in (inbound or "").split(";") if "=" in part)
            if "Root" in fields:
                sampled = fields.get("Sampled") or ("1" if active else "0")
                header = f"Root={fields['Root']};Parent={secrets.token_hex(8)};Sampled={sampled}"
                parent = fields.get("Parent")
            elif active:
                header, parent = original(config), None
            else:
                return None
            invocation = _invocation.get()
            if invocation is not None:
                invocation.update(header=header, parent=parent)
            return header

        return decide

    def execute(original):
        def recorded(func, event):
            invocation: dict = {}
            token = _invocation.set(invocation)
            started = time.time()
            try:
                result = original(func, event)
            finally:
                _invocation.reset(token)
            if invocation.get("header"):
                config = func.get("config") or func
                xray.record_invocation(
                    config.get("FunctionName", "?"),
                    invocation["header"],
                    invocation.get("parent"),
                    started,
                    time.time(),
                    isinstance(result, dict) and bool(result.get("error")),
                )
            return result

        return recorded

    fix = "continue_traces_across_the_bus"
    patch(eventbridge, "_put_events", put_events, fix=fix, params=("data", "allow_aws_source"))
    patch(eventbridge, "_dispatch_event", dispatch_event, fix=fix, params=("event", "view"))
    patch(svc, "_xray_trace_id_for_invocation", trace_for, fix=fix, params=("config", "inbound_trace_header"))
    patch(svc, "_execute_function", execute, fix=fix, params=("func", "event"))
