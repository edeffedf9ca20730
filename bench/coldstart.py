"""Cold start, two figures for each function, each in a fresh interpreter with the function's
Lambda environment (LAMBDA_TASK_ROOT and the rest: the libraries take their Lambda paths):

- **import**: importing the handler's module (its module-level initialisation);
- **first answer**: importing it and handling its first event, to the answer: what a customer
  waits through after a deploy or a scale-out, less the interpreter's own start. The event's AWS
  calls are served by a moto server on loopback, so the figure is compute, not network.

Against a baseline function: `import boto3`, one client, and as many calls (GetItem, on the same
server) as the function's first event made. Each figure is the median of `repeat` runs,
interleaved so that a noisy moment hits every function alike, with the min and max beside it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import statistics
import subprocess
import sys
import urllib.request
import uuid
import zipfile
from contextlib import contextmanager
from datetime import UTC, datetime

from bench import ROOT
from bench.functions import HANDLERS, lambda_environment
from infra.consumers import ANALYTICS_FOLD, PUBLISHER, SAGA_SWEEP

BASELINE = "baseline"
# The same, plus the libraries every function is built on, as they use them: pydantic, and
# Powertools' Logger (no tracing SDK: lambdas/common/tracing.py). The ratio of the platform's
# functions to it is what the platform's own code costs; its ratio to the baseline, what the
# libraries alone cost.
LIBRARIES = "libraries"
TRACE_HEADER = "Root=1-6b0be63a-93496ecddc27bc8175ea493b;Parent=53995c3f42cd8ad8;Sampled=1"

_PROBE = """
import json, sys, time
sys.path.insert(0, {lambdas!r})  # Lambda puts the task root (the code asset) first
from localcloud.run_handler import Context  # the runtime's, not the function's
event = json.loads({event!r})
started = time.perf_counter()
import botocore.endpoint  # count every request, whatever session or client makes it
calls, make_request = [], botocore.endpoint.Endpoint.make_request
def counted(self, *args, **kwargs):
    calls.append(1)
    return make_request(self, *args, **kwargs)
botocore.endpoint.Endpoint.make_request = counted
if {handler!r} in ("baseline", "libraries"):
    import boto3
    if {handler!r} == "libraries":  # what every function of the platform is built on, as it uses it
        from pydantic import BaseModel
        from aws_lambda_powertools import Logger
        Logger()
    client = boto3.client("dynamodb")
    imported = time.perf_counter()
    for _ in range({baseline_calls}):
        client.get_item(TableName={table!r}, Key={{"productId": {{"S": "baseline"}}}})
else:
    import importlib
    module, _, attribute = {handler!r}.rpartition(".")
    handler = getattr(importlib.import_module(module), attribute)
    imported = time.perf_counter()
    handler(event, Context({name!r}))
answered = time.perf_counter()
print(json.dumps({{"importMs": (imported - started) * 1000, "answerMs": (answered - started) * 1000,
                  "calls": len(calls)}}))
"""


def probe(
    name: str, handler: str, event: dict | None, endpoint: str, baseline_calls: int = 0, import_profile: bool = False
) -> dict:
    from tests.support import aws

    code = _PROBE.format(
        lambdas=str(ROOT / "lambdas"),
        handler=handler,
        name=name,
        event=json.dumps(event, default=_epoch),
        baseline_calls=baseline_calls,
        table=aws.INVENTORY,
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
        **lambda_environment(name),
        "AWS_ENDPOINT_URL": endpoint,
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    if import_profile:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{name}'s cold start failed: {result.stderr[-2000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if import_profile:
        figures["importsByPackage"] = imports_by_package(result.stderr)
    return figures


def imports_by_package(importtime: str) -> dict[str, float]:
    """`python -X importtime` output -> ms of import spent in each top-level package (each
    module's own time, summed), largest first."""
    spent: dict[str, float] = {}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().split(".")[0]
        spent[package] = spent.get(package, 0.0) + int(own) / 1000
    return dict(sorted(((k, round(v, 1)) for k, v in spent.items()), key=lambda item: -item[1]))


@contextmanager
def moto_server():
    """A moto server on loopback with the tables, the bus and the sender the functions use."""
    from moto.server import ThreadedMotoServer

    from bench.functions import BUS
    from localcloud.cloud import free_port
    from tests.support import aws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line for each request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto's backends live in this process: what an earlier server of the run created is still there
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    saved = dict(os.environ)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    try:
        import boto3

        boto3.setup_default_session()
        aws.create_tables()
        aws.price({"SKU-1": "9.99"})  # what the orders API's request orders
        boto3.client("events").create_event_bus(Name=BUS)
        yield endpoint
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def first_event(name: str) -> dict:
    """A first event for the function, new each time, with what it needs already in place."""
    from bench.warm import fresh_event, prepare, workload
    from tests.support import aws
    from tests.support.api import claims, proxy_event

    unique = uuid.uuid4().hex[:12]
    if name in workload():
        event = fresh_event(workload()[name])
        prepare(name, event)
        return event
    if name == "OrdersApi":
        return _signed_in(
            proxy_event("POST", "/orders", {"items": [{"productId": "SKU-1", "quantity": 1, "price": "9.99"}]}),
            claims(f"cust-{unique}"),
        )
    if name == "UsersApi":  # the email is the token's
        return _signed_in(proxy_event("POST", "/users", {"name": "Ada"}), claims(f"cust-{unique}"))
    if name == "InventoryApi":
        return proxy_event("PUT", f"/inventory/SKU-{unique}", {"quantity": 5})
    if name == "AnalyticsApi":
        return proxy_event("GET", "/analytics/daily", query={"date": datetime.now(UTC).date().isoformat()})
    if name == "AuditApi":
        return proxy_event("GET", f"/audit/corr-{unique}")
    if name == PUBLISHER.name:
        return {"Records": _new_stream_record(aws.EVENT_STORE, lambda: _store_an_event(unique))}
    if name == ANALYTICS_FOLD.name:
        return {"Records": _new_stream_record(aws.ANALYTICS_EVENTS, lambda: _count_an_event(unique))}
    if name == SAGA_SWEEP.name:
        return {
            "version": "0",
            "id": unique,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": datetime.now(UTC).isoformat(),
            "region": "us-east-1",
            "resources": [],
            "detail": {},
        }
    raise KeyError(f"no first event for {name}")


def _signed_in(event: dict, verified: dict[str, str]) -> dict:
    """A customer route's event as API Gateway passes it on: with the claims its Cognito
    authorizer verified."""
    event["requestContext"]["authorizer"] = {"claims": verified}
    return event


def _store_an_event(unique: str) -> None:
    from eventstore.store import EventStore
    from tests.support import aws, orders

    EventStore(aws.EVENT_STORE).append([orders.created(order_id=f"order-{unique}")])


def _count_an_event(unique: str) -> None:
    from analytics.counters import DailyCounters
    from tests.support import aws, orders

    DailyCounters(markers_table=aws.ANALYTICS_EVENTS).record(orders.created(order_id=f"order-{unique}"))


def _new_stream_record(table: str, write) -> list[dict]:
    from tests.support import aws

    before = len(aws.stream_records(table))
    write()
    return aws.stream_records(table)[before:]


def _epoch(value) -> float:
    """Stream records as Lambda gives them: times in epoch seconds (boto3 parses them to datetime)."""
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON")


def asset_bytes() -> int:
    """The zipped size of the one code asset every function shares (lambdas/)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / "lambdas").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, path.relative_to(ROOT / "lambdas"))
    return len(buffer.getvalue())


def _spread(values: list[float]) -> dict:
    return {
        "medianMs": round(statistics.median(values), 1),
        "minMs": round(min(values), 1),
        "maxMs": round(max(values), 1),
    }


def measure(repeat: int) -> dict:
    samples: dict[str, list[dict]] = {name: [] for name in HANDLERS}
    baseline: dict[int, list[dict]] = {}
    libraries: dict[int, list[dict]] = {}
    with moto_server() as endpoint:
        for _ in range(repeat):
            for name, handler in HANDLERS.items():
                samples[name].append(probe(name, handler, first_event(name), endpoint))
            for calls in sorted({int(statistics.median(s["calls"] for s in runs)) for runs in samples.values()}):
                baseline.setdefault(calls, []).append(probe(BASELINE, BASELINE, None, endpoint, baseline_calls=calls))
                libraries.setdefault(calls, []).append(
                    probe(LIBRARIES, LIBRARIES, None, endpoint, baseline_calls=calls)
                )
        worst = max(samples, key=lambda name: statistics.median(run["answerMs"] for run in samples[name]))
        profile = probe(worst, HANDLERS[worst], first_event(worst), endpoint, import_profile=True)
        baseline_profile = probe(BASELINE, BASELINE, None, endpoint, baseline_calls=1, import_profile=True)
    base_import = statistics.median(run["importMs"] for runs in baseline.values() for run in runs)
    functions = {}
    for name, runs in samples.items():
        calls = int(statistics.median(run["calls"] for run in runs))
        base_answer = statistics.median(run["answerMs"] for run in baseline[calls])
        libraries_answer = statistics.median(run["answerMs"] for run in libraries[calls])
        imports, answers = [run["importMs"] for run in runs], [run["answerMs"] for run in runs]
        functions[name] = {
            "import": _spread(imports),
            "importRatio": round(statistics.median(imports) / base_import, 2),
            "firstAnswer": _spread(answers),
            "calls": calls,
            "baselineAnswerMs": round(base_answer, 1),
            "ratio": round(statistics.median(answers) / base_answer, 2),
            "librariesRatio": round(statistics.median(answers) / libraries_answer, 2),
            # the figures earlier pages keep
            "medianMs": round(statistics.median(imports), 1),
        }
    return {
        "repeat": repeat,
        "assetBytes": asset_bytes(),
        "baselineMs": round(base_import, 1),
        "baseline": {
            str(calls): _spread([run["answerMs"] for run in runs]) for calls, runs in sorted(baseline.items())
        },
        "libraries": {
            str(calls): {
                **_spread([run["answerMs"] for run in runs]),
                "ratio": round(
                    statistics.median(run["answerMs"] for run in runs)
                    / statistics.median(run["answerMs"] for run in baseline[calls]),
                    2,
                ),
            }
            for calls, runs in sorted(libraries.items())
        },
        "functions": functions,
        # the slowest function's imports, by package, against the baseline's (one run each,
        # profiled: the profiler itself adds to every figure)
        "profile": {
            "function": worst,
            "importsByPackage": profile["importsByPackage"],
            "baselineImportsByPackage": baseline_profile["importsByPackage"],
        },
    }
