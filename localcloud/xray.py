"""The local cloud's X-Ray: the trace segments of a run, kept in the server's memory and served
through X-Ray's own API, so that `aws xray batch-get-traces` shows an order's trace as it would
on AWS. MiniStack 1.5.33 has no X-Ray (its requests are "Unsupported service").

What goes in, as on AWS:
- each traced Lambda invocation's segment (the function's: its name, its id, which is the
  `Parent` of the header the function runs with, the segment it continues, its start, its end,
  and whether it failed), recorded by the server when the invocation ends
  (localcloud/fixes/xray.py, continue_traces_across_the_bus);
- the documents functions send themselves (PutTraceSegments).

It serves PutTraceSegments, BatchGetTraces and GetTraceSummaries (every trace started in the
time range; no filter expressions). The last MAX_TRACES traces are kept: a long chaos run does
not grow the server without bound. Nothing is persisted: traces are lost with a restart, as the
local cloud's logs are not.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

MAX_TRACES = 20_000
MAX_SEGMENTS_PER_TRACE = 1_000  # the local cloud's bound: a forged header cannot grow one trace for ever
REST_JSON = "application/json"

_traces: OrderedDict[str, dict[str, str]] = OrderedDict()  # trace id -> {segment id: document}
_lock = threading.Lock()


def put(document: str) -> bool:
    """Keep one segment document; False when it is not one (X-Ray's UnprocessedTraceSegments),
    or when its trace is full. What is kept is the document as read, its times as numbers."""
    try:
        segment = json.loads(document)
        trace_id, segment_id = str(segment["trace_id"]), str(segment["id"])
        segment["start_time"] = float(segment["start_time"])
        if "end_time" in segment:
            segment["end_time"] = float(segment["end_time"])
    except (TypeError, ValueError, KeyError):
        return False
    with _lock:
        segments = _traces.setdefault(trace_id, {})
        if segment_id not in segments and len(segments) >= MAX_SEGMENTS_PER_TRACE:
            return False
        segments[segment_id] = json.dumps(segment)
        _traces.move_to_end(trace_id)
        while len(_traces) > MAX_TRACES:
            _traces.popitem(last=False)
    return True


def record_invocation(name: str, header: str, parent_id: str | None, start: float, end: float, failed: bool) -> None:
    """The segment Lambda records for a traced invocation: `header` is the one the function ran
    with (its Parent is this segment's id), `parent_id` the segment it continues, if any."""
    fields = dict(part.split("=", 1) for part in header.split(";") if "=" in part)
    if fields.get("Sampled") != "1":
        return
    segment: dict[str, Any] = {
        "name": name,
        "id": fields["Parent"],
        "trace_id": fields["Root"],
        "start_time": start,
        "end_time": end,
        "origin": "AWS::Lambda::Function",
    }
    if parent_id:
        segment["parent_id"] = parent_id
    if failed:
        segment["fault"] = True
    put(json.dumps(segment))


def _traces_of(ids: list[str]) -> tuple[list[dict], list[str]]:
    found, unknown = [], []
    with _lock:
        for trace_id in ids:
            segments = _traces.get(trace_id)
            if segments is None:
                unknown.append(trace_id)
                continue
            documents = [json.loads(document) for document in segments.values()]
            duration = max(d.get("end_time", d["start_time"]) for d in documents) - min(
                d["start_time"] for d in documents
            )
            found.append(
                {
                    "Id": trace_id,
                    "Duration": round(duration, 3),
                    "Segments": [{"Id": sid, "Document": doc} for sid, doc in segments.items()],
                }
            )
    return found, unknown


def _summaries(start: float, end: float) -> list[dict]:
    with _lock:
        ids = list(_traces)
    found, _ = _traces_of(ids)
    summaries = []
    for trace in found:
        documents = [json.loads(segment["Document"]) for segment in trace["Segments"]]
        began = min(d["start_time"] for d in documents)
        if start <= began <= end:
            summaries.append(
                {
                    "Id": trace["Id"],
                    "Duration": trace["Duration"],
                    "HasFault": any(d.get("fault") for d in documents),
                    "HasError": any(d.get("error") for d in documents),
                }
            )
    return summaries


def _answer(data: dict, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": REST_JSON}, json.dumps(data).encode()


async def handle_request(method: str, path: str, headers: dict, body: bytes, query_params: dict):
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return _answer({"__type": "InvalidRequestException", "message": "the request is not JSON"}, 400)
    if method == "POST" and path == "/TraceSegments":
        documents = request.get("TraceSegmentDocuments") or []
        unprocessed = [
            {"Id": None, "ErrorCode": "InvalidSegment", "Message": "not a segment document"}
            for document in documents
            if not put(document)
        ]
        return _answer({"UnprocessedTraceSegments": unprocessed})
    if method == "POST" and path == "/Traces":
        found, unknown = _traces_of(list(request.get("TraceIds") or []))
        return _answer({"Traces": found, "UnprocessedTraceIds": unknown})
    if method == "POST" and path == "/TraceSummaries":
        return _answer(
            {
                "TraceSummaries": _summaries(float(request.get("StartTime", 0)), float(request.get("EndTime", 2**62))),
                "TracesProcessedCount": len(_traces),
            }
        )
    return _answer(
        {
            "__type": "InvalidRequestException",
            "message": f"the local cloud's X-Ray serves PutTraceSegments, BatchGetTraces and "
            f"GetTraceSummaries, not {method} {path}",
        },
        400,
    )
