"""Publishes event-store stream records to the bus: batches of 10, failed entries resent.

PutEvents accepts at most 10 entries a call and fails entries one by one (FailedEntryCount);
only the failed entries are sent again. What still fails after the last attempt is reported
back by sequence number (ReportBatchItemFailures), so Lambda retries it, bisects the batch
and finally parks the record in the on-failure destination: nothing is dropped.

A record that can never be published (not an event-store item, not an event, too large) is
refused instead: parked at once with the reason, so it neither blocks the shard through the
retries nor reaches the dead-letter queue without saying why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from common import clients, tracing
from common.limits import MAX_ENTRY_BYTES, entry_size
from common.observability import logger

MAX_ENTRIES_PER_CALL = 10


@dataclass
class PendingEntry:
    sequence_number: str
    entry: dict
    error: str = ""
    record: dict = field(default_factory=dict)


@dataclass
class PublishReport:
    published: int = 0
    failed: list[PendingEntry] = field(default_factory=list)
    refused: list[PendingEntry] = field(default_factory=list)
    ignored: int = 0

    @property
    def batch_item_failures(self) -> list[dict[str, str]]:
        return [{"itemIdentifier": pending.sequence_number} for pending in self.failed]


class OutboxPublisher:
    def __init__(
        self,
        bus_name: str,
        *,
        client=None,
        max_attempts: int = 3,
        backoff_seconds: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        traces: tracing.Handoff | None = None,
    ):
        self.bus_name = bus_name
        self._client = client or clients.client("events")
        self._traces = traces or tracing.Handoff("Publisher")
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._sleep = sleep

    def publish(self, records: Iterable[dict]) -> PublishReport:
        report = PublishReport()
        pending: list[PendingEntry] = []
        self._traces.begin()
        for record in records:
            if record.get("eventName") != "INSERT":
                report.ignored += 1  # the store is append-only: only inserts are events
                continue
            entry = self._entry_for(record)
            if entry.error:
                report.refused.append(entry)
            else:
                pending.append(entry)
                if "TraceHeader" in entry.entry:  # the consumers continue the trace of the invocation that stored it
                    entry.entry["TraceHeader"] = self._traces.hand_on(
                        entry.sequence_number, entry.entry["TraceHeader"], entry.entry["DetailType"]
                    )

        for attempt in range(1, self._max_attempts + 1):
            if not pending:
                break
            if attempt > 1:
                self._sleep(self._backoff * 2 ** (attempt - 2))
            failed = self._put_all(pending)
            report.published += len(pending) - len(failed)
            pending = failed
        report.failed.extend(pending)
        self._traces.close({entry.sequence_number for entry in report.failed})
        for entry in report.failed:
            logger.error("event not published", extra={"sequenceNumber": entry.sequence_number, "reason": entry.error})
        return report

    def _entry_for(self, record: dict) -> PendingEntry:
        sequence_number = record["dynamodb"]["SequenceNumber"]
        image = record["dynamodb"].get("NewImage", {})
        try:
            source, detail_type, detail = image["source"]["S"], image["eventType"]["S"], image["detail"]["S"]
        except (KeyError, TypeError) as missing:
            return PendingEntry(
                sequence_number, {}, f"stream record lacks string attribute {missing}: not an event-store item", record
            )
        entry = {"EventBusName": self.bus_name, "Source": source, "DetailType": detail_type, "Detail": detail}
        trace = image.get("traceHeader", {}).get("S")
        if trace:  # handed on under the outbox's segment once the entry is to be sent (publish)
            entry["TraceHeader"] = trace
        size = entry_size(source, detail_type, detail)
        if size > MAX_ENTRY_BYTES:
            return PendingEntry(
                sequence_number, entry, f"entry is {size} bytes; PutEvents takes at most {MAX_ENTRY_BYTES}", record
            )
        problem = _not_an_event(detail, detail_type, image)
        if problem:
            return PendingEntry(sequence_number, entry, problem, record)
        return PendingEntry(sequence_number, entry)

    def _put_all(self, entries: list[PendingEntry]) -> list[PendingEntry]:
        """Send them, a call per MAX_ENTRIES_PER_CALL; return the entries that failed."""
        failed = []
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
            failed.extend(self._put(entries[start : start + MAX_ENTRIES_PER_CALL]))
        return failed

    def _put(self, chunk: list[PendingEntry]) -> list[PendingEntry]:
        """Send one call's worth; return the entries that failed, with their error."""
        try:
            response = self._client.put_events(Entries=[pending.entry for pending in chunk])
        except ClientError as error:
            reason = (
                f"PutEvents failed: {error.response['Error'].get('Code')}: {error.response['Error'].get('Message')}"
            )
            for pending in chunk:
                pending.error = reason
            return chunk
        failed = []
        for pending, result in zip(chunk, response["Entries"], strict=True):  # one result an entry
            if result.get("ErrorCode"):
                pending.error = f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"
                failed.append(pending)
        return failed


def _not_an_event(detail: str, detail_type: str, image: dict) -> str | None:
    """Why this item's detail is not the event its keys say it is (None: it is). A cheap check
    of the envelope's identity, not of the payload: the store validated that on the way in."""
    try:
        data = json.loads(detail)
    except json.JSONDecodeError as error:
        return f"detail is not JSON: {error}"
    if not isinstance(data, dict):
        return "detail is not a JSON object"
    for name, expected in (
        ("eventType", detail_type),
        ("eventId", image.get("eventId", {}).get("S")),
        ("aggregateId", image.get("aggregateId", {}).get("S")),
    ):
        # Named, not quoted: a reason is logged and parked, and says no value (catalog/errors.py).
        if expected is None:
            return f"the item has no {name}: not an event-store item"
        if data.get(name) != expected:
            return f"detail {name} does not match the item's {name}"
    return None
