"""Counts what a run would be billed for on AWS, as the local cloud serves it. Used by the
benchmark (`make bench`), never by `make up`: the server installs it only when
LOCAL_CLOUD_METER names a file (`install`, with the fixes' framework), and
writes the cumulative counts there twice a second.

What it counts, and by which of AWS's rules:
- DynamoDB request units as DynamoDB reports them (ReturnConsumedCapacity=INDEXES is asked
  for on every call and taken off the answer again): writes by the larger of the item before
  and after, transactions at twice the units, every global secondary index an item enters,
  changes in or leaves. A refused conditional write is billed too, and reports nothing: it is
  counted from the item's size. Requests by operation.
- EventBridge: PutEvents calls, entries in 64 KB chunks, and the bytes the bus archive keeps.
- Lambda: invocations by function, and for each the CPU time its worker process spent (from
  /proc, in nanoseconds) and the wall time, with the function's memory size and architecture,
  so that the bill can convert local CPU time into the duration AWS would bill.
- CloudWatch Logs: the bytes of every log event written (Lambda's platform lines included).
- SES emails sent, SQS requests.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

from common.limits import billed_events, request_entry_size

_counts: dict[str, float] = defaultdict(float)
_lock = threading.Lock()

_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
_CAPACITY = _WRITES | _READS | {"TransactWriteItems", "BatchWriteItem"}
# A benchmark watching the run (is every order settled yet?) signs with this key: not billed.
OBSERVER_KEY = "meter-observer"
LOG_EVENT_OVERHEAD_BYTES = 26  # what CloudWatch Logs adds to each event's size (PutLogEvents quotas)


def add(key: str, amount: float = 1) -> None:
    with _lock:
        _counts[key] += amount


def _units(size: int, unit: int) -> int:
    return max(1, math.ceil(size / unit))


# ---- DynamoDB -------------------------------------------------------------------------------


def _consumed(operation: str, consumed: list[dict]) -> None:
    """Units from DynamoDB's ConsumedCapacity: writes by table and by index, reads by table."""
    for entry in consumed:
        table = entry.get("TableName", "?")
        if operation in _READS:
            own = entry.get("Table") or {}
            units = own.get("ReadCapacityUnits", own.get("CapacityUnits", entry.get("CapacityUnits", 0)))
            add(f"dynamodb.read_units.{operation}", units)
            continue
        own = entry.get("Table") or {}
        units = own.get("WriteCapacityUnits", own.get("CapacityUnits"))
        indexes = entry.get("GlobalSecondaryIndexes") or {}
        index_units = sum(i.get("WriteCapacityUnits", i.get("CapacityUnits", 0)) for i in indexes.values())
        if units is None:  # only a total given: the table's share is what the indexes leave
            units = entry.get("WriteCapacityUnits", entry.get("CapacityUnits", 0)) - (
                index_units if "WriteCapacityUnits" not in entry else 0
            )
        add("dynamodb.write_units", units + index_units)
        add(f"dynamodb.write_units.table.{table}", units)
        if index_units:
            add("dynamodb.write_units.index", index_units)
            add(f"dynamodb.write_units.index.{table}", index_units)


def _refused_write(operation: str, request: dict) -> None:
    """A write refused by its condition (or a cancelled transaction) still costs its units,
    and DynamoDB says nothing of them: counted from the items' sizes as the request stood."""
    from ministack.services.dynamodb import _item_size_bytes

    def size(body: dict) -> int:
        return _item_size_bytes(body.get("Item") or body.get("Key") or {})

    if operation in _WRITES:
        units = _units(size(request), 1024)
    elif operation == "TransactWriteItems":
        units = sum(2 * _units(size(next(iter(a.values()))), 1024) for a in request.get("TransactItems", []))
    else:
        return
    add("dynamodb.write_units", units)
    add("dynamodb.write_units.refused", units)


def _dynamodb(operation: str, request: dict, status: int, response: dict) -> None:
    add(f"dynamodb.requests.{operation}")
    add("dynamodb.requests")
    if status >= 400:
        if status == 400 and response.get("__type", "").endswith(
            ("ConditionalCheckFailedException", "TransactionCanceledException")
        ):
            _refused_write(operation, request)
        return
    consumed = response.get("ConsumedCapacity")
    if consumed is not None:
        _consumed(operation, consumed if isinstance(consumed, list) else [consumed])


def _metered_dynamodb(handle):
    async def metered(method, path_, headers, body, query_params):
        lowered = {k.lower(): v for k, v in headers.items()}
        operation = lowered.get("x-amz-target", "").rsplit(".", 1)[-1]
        if operation not in _CAPACITY or f"Credential={OBSERVER_KEY}/" in lowered.get("authorization", ""):
            return await handle(method, path_, headers, body, query_params)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return await handle(method, path_, headers, body, query_params)
        asked = request.get("ReturnConsumedCapacity", "NONE")
        metered_body = json.dumps({**request, "ReturnConsumedCapacity": "INDEXES"}).encode()
        response = await handle(method, path_, headers, metered_body, query_params)
        try:
            status, response_headers, payload = response
            data = json.loads(payload) if payload else {}
            _dynamodb(operation, request, status, data if isinstance(data, dict) else {})
            if asked == "NONE" and isinstance(data, dict) and "ConsumedCapacity" in data:
                del data["ConsumedCapacity"]  # the caller did not ask: answer as AWS would
                payload = json.dumps(data).encode()
                response_headers = {
                    k: v for k, v in response_headers.items() if k.lower() not in ("content-length", "x-amz-crc32")
                }
                response_headers["x-amz-crc32"] = str(zlib.crc32(payload))  # boto3 checks the body against it
                return status, response_headers, payload
        except Exception:
            add("meter.errors")
        return response

    return metered


# ---- Lambda ---------------------------------------------------------------------------------


def sched_ns(pid: int | None) -> tuple[int, int] | None:
    """How long a process's threads have run on a CPU, and waited for one (ready, but every core
    busy), in nanoseconds (None: no such process). The wait is this machine's, not AWS's: a
    function there has its share of a CPU to itself."""
    if pid is None:
        return None
    ran = queued = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            fields = (task / "schedstat").read_text().split()
            ran, queued = ran + int(fields[0]), queued + int(fields[1])
    except (OSError, ValueError, IndexError):
        return None
    return ran, queued


def peak_rss_mb(pid: int | None) -> float:
    """The most memory a process has held (VmHWM), in MB: what Lambda reports as Max Memory Used."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, TypeError):
        pass
    return 0.0


def _metered_worker_invoke(invoke):
    def metered(self, event, request_id, **kwargs):
        proc = getattr(self, "_proc", None)
        pid = proc.pid if proc is not None and proc.poll() is None else None
        before = sched_ns(pid)
        started = time.perf_counter()
        try:
            return invoke(self, event, request_id, **kwargs)
        finally:
            wall = time.perf_counter() - started
            proc = getattr(self, "_proc", None)
            now_pid = proc.pid if proc is not None else None
            after = sched_ns(now_pid)
            cold = before is None or now_pid != pid
            config = self.config or {}
            name = config.get("FunctionName", self.func_name)
            memory = int(config.get("MemorySize", 128))
            architecture = (config.get("Architectures") or ["x86_64"])[0]
            start = (0, 0) if cold or before is None else before
            cpu, queued = (
                ((after[0] - start[0]) / 1e9, (after[1] - start[1]) / 1e9) if after is not None else (0.0, 0.0)
            )
            with _lock:
                _counts["lambda.invocations"] += 1
                _counts[f"lambda.invocations.{name}"] += 1
                _counts[f"lambda.cpu_seconds.{name}"] += cpu
                _counts[f"lambda.wall_seconds.{name}"] += wall
                _counts[f"lambda.queued_seconds.{name}"] += queued
                _counts[f"lambda.memory_mb.{name}"] = memory
                _counts[f"lambda.arm64.{name}"] = 1 if architecture == "arm64" else 0
                if cold:
                    _counts[f"lambda.cold.{name}"] += 1
                peak = f"lambda.peak_rss_mb.{name}"
                _counts[peak] = max(_counts.get(peak, 0.0), peak_rss_mb(now_pid))

    return metered


# ---- EventBridge, SES, SQS ------------------------------------------------------------------


def _metered_events(handle):
    async def metered(method, path_, headers, body, query_params):
        target = {k.lower(): v for k, v in headers.items()}.get("x-amz-target", "")
        if target.endswith("PutEvents"):
            entries = json.loads(body or b"{}").get("Entries", [])
            add("events.put_events_calls")
            # billed per 64 KB chunk of each entry, its size counted as EventBridge counts it
            add("events.entries", sum(billed_events(request_entry_size(e)) for e in entries if isinstance(e, dict)))
        return await handle(method, path_, headers, body, query_params)

    return metered


def _metered_archive(archive_event, archives_of):
    def metered(event, view=None):
        archives = archives_of()
        archives = getattr(archives, "_data", archives)  # every account and region
        before = sum(a.get("EventCount", 0) for a in list(archives.values()))
        archive_event(event, view)
        kept = sum(a.get("EventCount", 0) for a in list(archives.values())) - before
        if kept:
            add(
                "events.archived_bytes",
                kept * len(json.dumps({k: v for k, v in event.items() if not k.startswith("_")})),
            )

    return metered


def _metered_ses(handle):
    async def metered(method, path_, headers, body, query_params):
        response = await handle(method, path_, headers, body, query_params)
        text = (body or b"").decode("utf-8", errors="replace")
        sending = "Action=SendEmail" in text or "Action=SendRawEmail" in text or path_.endswith("/outbound-emails")
        if sending and isinstance(response, tuple) and response[0] < 400:
            add("ses.emails")
        return response

    return metered


def _metered_sqs(handle):
    async def metered(method, path_, headers, body, query_params):
        add("sqs.requests")
        return await handle(method, path_, headers, body, query_params)

    return metered


# ---- CloudWatch Logs, and the file the benchmark reads -----------------------------------------


def start_flushing(path: str, log_groups) -> None:
    """Twice a second: count what landed in the log streams (CloudWatch bills what it ingests)
    and write the counts to `path`. log_groups() gives MiniStack's log groups."""
    read_so_far: dict[int, int] = {}  # log stream (by identity) -> events already counted

    def count_logs() -> None:
        groups = log_groups()
        for group in list(getattr(groups, "_data", groups).values()):  # every account and region
            for stream in list(group.get("streams", {}).values()):
                events = stream.get("events", [])
                seen = read_so_far.get(id(stream), 0)
                if len(events) > seen:
                    new = events[seen:]
                    read_so_far[id(stream)] = len(events)
                    add("logs.events", len(new))
                    add(
                        "logs.bytes",
                        sum(len(str(e.get("message", "")).encode()) + LOG_EVENT_OVERHEAD_BYTES for e in new),
                    )

    def flush() -> None:
        while True:
            time.sleep(0.5)
            try:
                count_logs()
            except Exception:
                add("meter.errors")
            with _lock:
                snapshot = dict(_counts)
            tmp = f"{path}.tmp"
            with open(tmp, "w") as out:
                json.dump(snapshot, out)
            os.replace(tmp, path)

    threading.Thread(target=flush, name="local-cloud-meter", daemon=True).start()


def read(path: str) -> dict[str, Any]:
    try:
        with open(path) as source:
            return json.load(source)
    except (OSError, json.JSONDecodeError):
        return {}


def install(path: str) -> None:
    """Wrap the meter around MiniStack's request handlers and worker, with the same checks as the
    fixes (localcloud/fixes/framework.py): not a difference from AWS, so not a fix. The server
    calls it only when LOCAL_CLOUD_METER names the file to write the counts to."""
    from ministack.core import lambda_runtime
    from ministack.services import cloudwatch_logs, dynamodb, eventbridge, ses, sqs

    from localcloud.fixes.framework import patch, require

    fix, handler = "meter", ("method", "path", "headers", "body", "query_params")
    require(eventbridge, "_archives", fix=fix)
    require(cloudwatch_logs, "_log_groups", fix=fix)
    patch(dynamodb, "handle_request", _metered_dynamodb, fix=fix, params=handler)
    patch(
        lambda_runtime.Worker,
        "invoke",
        _metered_worker_invoke,
        fix=fix,
        params=("self", "event", "request_id", "trace_id", "depth", "durable", "invoked_function_arn"),
    )
    patch(eventbridge, "handle_request", _metered_events, fix=fix, params=handler)
    patch(
        eventbridge,
        "_archive_event",
        lambda original: _metered_archive(original, lambda: eventbridge._archives),
        fix=fix,
        params=("event", "view"),
    )
    patch(ses, "handle_request", _metered_ses, fix=fix, params=handler)
    patch(sqs, "handle_request", _metered_sqs, fix=fix, params=handler)
    start_flushing(path, lambda: cloudwatch_logs._log_groups)
