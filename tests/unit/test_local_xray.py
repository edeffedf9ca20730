"""The local cloud's X-Ray (localcloud/xray.py): what it keeps, and what it serves back."""

from __future__ import annotations

import asyncio
import json

from localcloud import xray


def serve(path: str, request: dict) -> dict:
    status, _, body = asyncio.run(xray.handle_request("POST", path, {}, json.dumps(request).encode(), {}))
    assert status == 200, body
    return json.loads(body)


def test_a_sampled_invocation_is_one_segment_under_the_one_it_continues_and_an_unsampled_one_none(monkeypatch):
    monkeypatch.setattr(xray, "_traces", type(xray._traces)())
    root = "1-67890abc-0123456789abcdef01234567"
    xray.record_invocation("Saga", f"Root={root};Parent=aaaaaaaaaaaaaaaa;Sampled=1", "bbbbbbbbbbbbbbbb", 1.0, 1.5, True)
    xray.record_invocation(
        "Audit", f"Root={root};Parent=cccccccccccccccc;Sampled=0", "bbbbbbbbbbbbbbbb", 1.0, 1.2, False
    )
    answer = serve("/Traces", {"TraceIds": [root, "1-00000000-000000000000000000000000"]})
    [trace] = answer["Traces"]
    assert answer["UnprocessedTraceIds"] == ["1-00000000-000000000000000000000000"] and trace["Duration"] == 0.5
    [segment] = [json.loads(s["Document"]) for s in trace["Segments"]]
    assert (segment["name"], segment["id"], segment["parent_id"], segment["fault"]) == (
        "Saga",
        "aaaaaaaaaaaaaaaa",
        "bbbbbbbbbbbbbbbb",
        True,
    )


def test_put_trace_segments_refuses_what_is_not_a_segment_and_keeps_the_rest(monkeypatch):
    monkeypatch.setattr(xray, "_traces", type(xray._traces)())
    good = json.dumps({"name": "Publisher", "id": "1234", "trace_id": "1-a-b", "start_time": 2.0, "end_time": 3.0})
    answer = serve("/TraceSegments", {"TraceSegmentDocuments": [good, "{}", "not json"]})
    assert len(answer["UnprocessedTraceSegments"]) == 2
    assert serve("/TraceSummaries", {"StartTime": 1, "EndTime": 4})["TraceSummaries"] == [
        {"Id": "1-a-b", "Duration": 1.0, "HasFault": False, "HasError": False}
    ]
    assert serve("/TraceSummaries", {"StartTime": 5, "EndTime": 9})["TraceSummaries"] == []


def test_it_keeps_the_last_traces_only(monkeypatch):
    monkeypatch.setattr(xray, "_traces", type(xray._traces)())
    monkeypatch.setattr(xray, "MAX_TRACES", 3)
    for n in range(5):
        assert xray.put(json.dumps({"id": "s", "trace_id": f"1-{n}", "start_time": n}))
    assert list(xray._traces) == ["1-2", "1-3", "1-4"]


def test_a_segment_s_times_are_kept_as_numbers_and_a_trace_has_a_bound(monkeypatch):
    monkeypatch.setattr(xray, "_traces", type(xray._traces)())
    monkeypatch.setattr(xray, "MAX_SEGMENTS_PER_TRACE", 2)
    assert xray.put(json.dumps({"id": "a", "trace_id": "1-x", "start_time": "5", "end_time": "6"}))
    assert serve("/TraceSummaries", {})["TraceSummaries"][0]["Duration"] == 1.0  # not a string compared with floats
    assert xray.put(json.dumps({"id": "b", "trace_id": "1-x", "start_time": 5}))
    assert not xray.put(json.dumps({"id": "c", "trace_id": "1-x", "start_time": 5}))  # full
    assert xray.put(
        json.dumps({"id": "b", "trace_id": "1-x", "start_time": 5, "end_time": 7})
    )  # an update of one it has
