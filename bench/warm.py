"""Warm per-event cost of every consumer: CPU time to handle one event with its AWS calls
served in-process by moto, against a minimal handler that makes the same calls and nothing
else (no Powertools, no validation). The ratio is what the framework and the domain code add
on top of the calls themselves. The consumer runs as deployed: in a trace, INFO logs; the
calls are every request it makes, on any session (counted where botocore sends them)."""

from __future__ import annotations

import contextlib
import copy
import os
import statistics
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import ClassVar

import boto3
from botocore.exceptions import ClientError

from bench.functions import handler_of, lambda_environment
from localcloud.run_handler import Context


def workload() -> dict[str, str]:
    """The catalog example each consumer is timed on: one of its spec's sample type (made fresh
    for every delivery), for every consumer infra/consumers.py declares."""
    from catalog.examples import EXAMPLES
    from infra import consumers as declared

    return {
        spec.name: next(name for name, example in EXAMPLES.items() if example.eventType == spec.sample_type)
        for spec in declared.CONSUMERS
    }


@contextmanager
def aws_in_process(name: str):
    """moto, with the tables the functions use, and the function's environment."""
    from moto import mock_aws

    # As deployed: in a sampled trace (what the events it stores carry), INFO logs (written to
    # /dev/null: formatted, not kept).
    from bench.coldstart import TRACE_HEADER
    from tests.support import aws

    env = {**lambda_environment(name), "POWERTOOLS_METRICS_NAMESPACE": "Bench", "_X_AMZN_TRACE_ID": TRACE_HEADER}
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with mock_aws():
            aws.create_tables()
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def fresh_event(example: str) -> dict:
    """The example as its rule target receives it, with new event and aggregate ids (the
    aggregate in its key space: an order's bare id, `user:<id>`, `saga:<orderId>`), made now."""
    from catalog.examples import EXAMPLES, put_events_entries, rule_target_event

    entry = put_events_entries(EXAMPLES[example], "bench")[0]
    event = rule_target_event(entry)
    detail = copy.deepcopy(event["detail"])
    new_id = str(uuid.uuid4())
    detail["eventId"] = str(uuid.uuid4())
    # new in time too: Payments parks a request older than the card network remembers keys
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    detail["timestamp"] = event["time"] = now
    for key in ("orderId", "userId"):
        if key in detail["payload"]:
            detail["payload"][key] = new_id
    space, colon, _ = detail["aggregateId"].rpartition(":")
    detail["aggregateId"] = f"{space}{colon}{new_id}"
    event["detail"] = detail
    return event


def prepare(name: str, event: dict) -> None:
    """What must exist before the event arrives (not timed): the event itself in the store, as
    the outbox published it (a consumer that moves money or stock, or changes a read model or an
    address, acts only on an event the store holds), and stock."""
    from catalog import Caller, parse_event
    from eventstore.store import EventStore
    from inventory.stock import Stock
    from tests.support import aws

    store = EventStore(aws.EVENT_STORE)
    store.append([parse_event(event["detail"])])
    if name == "InventoryReservations":
        for line in event["detail"]["payload"]["lines"]:
            Stock(store, aws.INVENTORY).set(line["productId"], 1_000_000, caller=Caller("bench", "bench"))


class CallRecorder:
    """Records the AWS calls a handler makes, to replay them as the minimal handler."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict, bool]] = []
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION._session.register("provide-client-params.*.*", self._record)

    def _record(self, params, model, **_):
        # Calls made through a boto3 resource carry Python values that the resource's client
        # converts; they are replayed through a resource's client, the others through a plain one.
        from botocore.validate import ParamValidator

        via_resource = ParamValidator().validate(params, model.input_shape).has_errors()
        self.calls.append((model.service_model.service_name, model.name, copy.deepcopy(params), via_resource))

    def _client(self, service: str, via_resource: bool):
        key = (service, via_resource)
        if key not in self._clients:
            self._clients[key] = boto3.resource(service).meta.client if via_resource else boto3.client(service)
        return self._clients[key]

    def replay(self, calls) -> None:
        for service, operation, params, via_resource in calls:
            client = self._client(service, via_resource)
            with contextlib.suppress(ClientError):  # a conditional write the handler already made: the same cost
                client._make_api_call(operation, params)

    _clients: ClassVar[dict] = {}


def count_requests() -> list:
    """Every request botocore sends from now on, whatever session or client sends it."""
    import botocore.endpoint

    sent, make_request = [], botocore.endpoint.Endpoint.make_request

    def counted(self, *args, **kwargs):
        sent.append(1)
        return make_request(self, *args, **kwargs)

    botocore.endpoint.Endpoint.make_request = counted
    return sent


def measure_consumer(name: str, events: int) -> dict:
    import importlib
    from functools import _lru_cache_wrapper

    with aws_in_process(name):
        module_name, _, attribute = handler_of(name).rpartition(".")
        module = importlib.import_module(module_name)
        from common import clients

        clients.client.cache_clear()  # clients made in an earlier moto context (or server) are stale
        for value in vars(module).values():
            if isinstance(value, _lru_cache_wrapper):
                value.cache_clear()
        handler = getattr(module, attribute)
        recorder = CallRecorder()
        CallRecorder._clients = {}
        sent = count_requests()
        handled, minimal, calls_per_event = [], [], []
        example = workload()[name]
        for index in range(events + 1):
            event = fresh_event(example)
            prepare(name, event)
            recorder.calls = []
            sent.clear()
            started = time.process_time()
            handler(event, Context("bench"))
            spent = time.process_time() - started
            calls = list(recorder.calls)
            if len(sent) != len(calls):  # a request on a session of its own: the minimal handler would miss it
                raise RuntimeError(f"{name} sent {len(sent)} requests, {len(calls)} of them on the default session")
            started = time.process_time()
            recorder.replay(calls)
            replayed = time.process_time() - started
            if index:  # the first delivery builds clients and caches: that is cold, not warm
                handled.append(spent)
                minimal.append(replayed)
                calls_per_event.append(len(calls))
    return {
        "events": events,
        "cpuMsPerEvent": round(statistics.median(handled) * 1000, 2),
        "minimalCpuMsPerEvent": round(statistics.median(minimal) * 1000, 2),
        "ratio": round(statistics.median(handled) / statistics.median(minimal), 2),
        "awsCallsPerEvent": statistics.median(calls_per_event),
    }


def measure(events: int) -> dict:
    """Each consumer in a fresh interpreter of its own, as each function runs in its own."""
    import json
    import subprocess
    import sys

    from bench import ROOT

    results = {}
    for name in workload():
        run = subprocess.run(
            [sys.executable, "-m", "bench.warm", name, str(events)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(run.stdout.strip().splitlines()[-1])
    return results


if __name__ == "__main__":
    import json
    import sys

    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        result = measure_consumer(sys.argv[1], int(sys.argv[2]))
    print(json.dumps(result))
