"""EventBridge: what PutEvents accepts, and how a rule's Lambda target is invoked."""

from __future__ import annotations

import json
from typing import Any

from common.limits import MAX_ENTRY_BYTES, request_entry_size
from localcloud.fixes.framework import log, patch, require

MAX_PUT_EVENTS_BYTES = MAX_ENTRY_BYTES  # AWS's 1 MB, for the whole request's entries


def put_events_entry_size(entry: Any) -> int:
    """An entry's size as EventBridge counts it against the request's 1 MB."""
    return request_entry_size(entry) if isinstance(entry, dict) else 0


def validate_put_events() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Refuse the request, or fail the entry, as AWS does, each entry's size counted as
    `common.limits.request_entry_size` counts it."""
    from ministack.core.responses import error_response_json, json_response
    from ministack.services import eventbridge

    def refuse(entry: Any) -> dict[str, str] | None:
        if not isinstance(entry, dict):
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Entry is not valid."}
        for name in ("Source", "DetailType", "Detail"):
            if not entry.get(name):
                return {
                    "ErrorCode": "InvalidArgument",
                    "ErrorMessage": f"Parameter {name} is not valid. Reason: {name} is a required argument.",
                }
        try:
            detail = json.loads(entry["Detail"])
        except (TypeError, ValueError):
            detail = None
        if not isinstance(detail, dict):
            return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
        if not isinstance(entry.get("TraceHeader", ""), str):  # an SDK refuses it before it is sent
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter TraceHeader is not valid."}
        return None

    def put_events(original):
        def validated(data, allow_aws_source=False):
            entries = data.get("Entries") if isinstance(data, dict) else None
            if not entries:
                return error_response_json(
                    "ValidationException",
                    "1 validation error detected: Value '[]' at 'entries' "
                    "failed to satisfy constraint: Member must have length greater than or equal "
                    "to 1",
                    400,
                )
            if len(entries) <= 10 and sum(map(put_events_entry_size, entries)) > MAX_PUT_EVENTS_BYTES:
                return error_response_json(
                    "ValidationException", "Total size of the entries in the request is over the limit.", 400
                )
            refused = {n: problem for n, entry in enumerate(entries) if (problem := refuse(entry))}
            if not refused or len(entries) > 10:
                return original(data, allow_aws_source)  # MiniStack's own answer for more than 10
            kept = [entry for n, entry in enumerate(entries) if n not in refused]
            answer: dict[str, Any] = {"FailedEntryCount": 0, "Entries": []}
            if kept:
                status, _headers, body = original({**data, "Entries": kept}, allow_aws_source)
                if status >= 400:
                    return status, _headers, body
                answer = json.loads(body)
            delivered = iter(answer["Entries"])
            results = [refused[n] if n in refused else next(delivered) for n in range(len(entries))]
            return json_response({"FailedEntryCount": answer["FailedEntryCount"] + len(refused), "Entries": results})

        return validated

    patch(eventbridge, "_put_events", put_events, fix="validate_put_events", params=("data", "allow_aws_source"))


def route_rule_targets_through_async_invoke() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Route a rule's Lambda target through MiniStack's own async-invoke path instead of its
    one-shot thread (`_dispatch_to_lambda`)."""
    from ministack.services import eventbridge, lambda_svc

    def dispatch_to_lambda(arn, payload):
        try:
            event = json.loads(payload)
        except (json.JSONDecodeError, TypeError):
            event = {"body": payload}
        func, config, name = lambda_svc._get_func_record_for_ref(arn)
        if not func or not config:
            log.warning("EventBridge -> Lambda: function %s not found", name)
            return
        lambda_svc.invoke_async_with_retry(func, event)

    fix = "route_rule_targets_through_async_invoke"
    require(lambda_svc, "_get_func_record_for_ref", "invoke_async_with_retry", fix=fix)
    patch(eventbridge, "_dispatch_to_lambda", lambda _: dispatch_to_lambda, fix=fix, params=("arn", "payload"))
