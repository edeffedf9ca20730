"""The size limits an event meets (common/limits.py), and the bill's count of EventBridge events in
64 KB chunks (localcloud/meter.py): AWS's arithmetic, pinned."""

from __future__ import annotations

import asyncio
import json

from common.limits import EVENTBRIDGE_CHUNK_BYTES, MAX_ENTRY_BYTES, billed_events, request_entry_size


def test_the_bus_takes_1_mb_and_bills_each_64_kb_chunk_as_an_event():
    assert MAX_ENTRY_BYTES == 1_048_576 and EVENTBRIDGE_CHUNK_BYTES == 65_536
    assert [billed_events(n) for n in (0, 1, 65_536, 65_537, 300 * 1024, MAX_ENTRY_BYTES)] == [1, 1, 1, 2, 5, 16]


def test_an_entry_is_counted_as_eventbridge_counts_it():
    entry = {
        "EventBusName": "not counted",
        "Source": "s.é",
        "DetailType": "T",
        "Detail": "{}",
        "Resources": ["r1"],
        "Time": "2026-12-06T00:00:00Z",
    }
    assert request_entry_size(entry) == len("s.é".encode()) + 1 + 2 + 2 + 14
    assert request_entry_size({"Source": 3, "Detail": None}) == 0  # not strings: nothing


def test_the_meter_counts_a_put_events_call_and_its_entries_in_chunks(monkeypatch):
    from localcloud import meter

    counted: dict[str, float] = {}
    monkeypatch.setattr(meter, "add", lambda key, amount=1: counted.__setitem__(key, counted.get(key, 0) + amount))

    async def handle(*args):
        return "answered"

    def entry(size: int) -> dict:
        """An entry of exactly `size` bytes as EventBridge counts them (its JSON is longer)."""
        return {"Source": "s", "DetailType": "T", "Detail": json.dumps({"p": "x" * (size - 2 - len('{"p": ""}'))})}

    big, small = entry(65_536 + 1), entry(65_536)  # 2 chunks, and exactly 1 (not its JSON's length)
    assert (request_entry_size(big), request_entry_size(small)) == (65_537, 65_536)
    body = json.dumps({"Entries": [big, small]}).encode()
    metered = meter._metered_events(handle)
    assert asyncio.run(metered("POST", "/", {"X-Amz-Target": "AWSEvents.PutEvents"}, body, {})) == "answered"
    assert counted == {"events.put_events_calls": 1, "events.entries": 3}
