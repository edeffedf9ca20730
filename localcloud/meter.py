"""Counts what a run would be billed for on AWS, as the local cloud serves it: DynamoDB
request units (from item sizes, by AWS's rules), EventBridge entries, SQS requests, and
Lambda invocations with their durations. Used by the benchmark (`make bench`), never by
`make up`: the server installs it only when LOCAL_CLOUD_METER names a file, and writes the
cumulative counts there twice a second.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import defaultdict
from typing import Any

_counts: dict[str, float] = defaultdict(float)
_lock = threading.Lock()

_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem", "Query", "Scan"}


def add(key: str, amount: float = 1) -> None:
    with _lock:
        _counts[key] += amount


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


def _dynamodb(target: str, request: dict, response: dict) -> None:
    from ministack.services.dynamodb import _item_size_bytes

    operation = target.rsplit(".", 1)[-1]
    add(f"dynamodb.requests.{operation}")
    if operation in _WRITES:
        add("dynamodb.write_units", _write_units(_item_size_bytes(request.get("Item") or request.get("Key") or {})))
    elif operation == "TransactWriteItems":
        for action in request.get("TransactItems", []):
            body = next(iter(action.values()))
            add("dynamodb.write_units", 2 * _write_units(_item_size_bytes(body.get("Item") or body.get("Key") or {})))
    elif operation in _READS:
        items = response.get("Items") or ([response["Item"]] if "Item" in response else [])
        size = sum(_item_size_bytes(item) for item in items)
        add(f"dynamodb.read_units.{operation}", _read_units(size, bool(request.get("ConsistentRead"))))
    elif operation == "BatchGetItem":
        for items in (response.get("Responses") or {}).values():
            add("dynamodb.read_units.BatchGetItem", sum(_read_units(_item_size_bytes(i), True) for i in items))


def install(path: str) -> None:
    from ministack.services import dynamodb, eventbridge, lambda_svc, sqs

    handle_dynamodb = dynamodb.handle_request

    async def metered_dynamodb(method, path_, headers, body, query_params):
        response = await handle_dynamodb(method, path_, headers, body, query_params)
        try:
            target = {k.lower(): v for k, v in headers.items()}.get("x-amz-target", "")
            payload = json.loads(response[2]) if isinstance(response, tuple) and response[2] else {}
            _dynamodb(target, json.loads(body or b"{}"), payload if isinstance(payload, dict) else {})
        except Exception:  # noqa: BLE001 - metering must never break a request
            add("meter.errors")
        return response

    handle_events = eventbridge.handle_request

    async def metered_events(method, path_, headers, body, query_params):
        target = {k.lower(): v for k, v in headers.items()}.get("x-amz-target", "")
        if target.endswith("PutEvents"):
            entries = json.loads(body or b"{}").get("Entries", [])
            # billed per 64 KB chunk of each entry
            add("events.entries", sum(max(1, math.ceil(len(json.dumps(e)) / 65536)) for e in entries))
        return await handle_events(method, path_, headers, body, query_params)

    handle_sqs = sqs.handle_request

    async def metered_sqs(*args, **kwargs):
        add("sqs.requests")
        return await handle_sqs(*args, **kwargs)

    execute = lambda_svc._execute_function

    def metered_execute(func: dict, event: dict) -> dict:
        started = time.perf_counter()
        try:
            return execute(func, event)
        finally:
            config = func.get("config") or func
            seconds = time.perf_counter() - started
            add("lambda.invocations")
            add("lambda.gb_seconds", seconds * int(config.get("MemorySize", 128)) / 1024)
            add(f"lambda.invocations.{config.get('FunctionName', '?')}")

    dynamodb.handle_request = metered_dynamodb
    eventbridge.handle_request = metered_events
    sqs.handle_request = metered_sqs
    lambda_svc._execute_function = metered_execute

    def flush() -> None:
        while True:
            time.sleep(0.5)
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
