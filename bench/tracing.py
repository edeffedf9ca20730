"""The tracing options, measured on the cold-start bench's terms (docs/DECISIONS.md, "Tracing").

Each option traces the same small function: a handler making three GetItem calls on the bench's
moto server, in a fresh interpreter with the Lambda environment and an invocation's trace header
(`_X_AMZN_TRACE_ID`), as Lambda runs it with active tracing:

- **xray-sdk**: today's. Powertools' Tracer on the X-Ray SDK, botocore patched, segments sent by
  UDP to the daemon address Lambda gives (`AWS_XRAY_DAEMON_ADDRESS`).
- **opentelemetry**: the OpenTelemetry SDK, the botocore instrumentation, X-Ray ids and trace
  header (the AWS id generator and propagator), spans exported by OTLP over HTTP and flushed
  before the handler returns (an environment is frozen between invocations).
- **active**: active tracing alone, no SDK in the function: Lambda records the function's own
  segments; the function records nothing.

For each: the cold start (imports and set-up; then the first answer), the warm CPU of one
invocation (median of `warm` invocations in the same interpreter, after the first), and what the
function itself sent to be recorded (segments and subsegments received by a UDP daemon stand-in,
spans by an OTLP stand-in, both on loopback). Lambda's own segments (the function's and its
invocation's, the same for every option) are not counted.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
from contextlib import contextmanager

from bench import ROOT
from bench.coldstart import TRACE_HEADER, moto_server
from bench.functions import lambda_environment

OPTIONS = ("xray-sdk", "opentelemetry", "active")
CALLS = 3

_PROBE = """
import json, os, sys, time
option, calls, warm = {option!r}, {calls}, {warm}
started = time.perf_counter()
import boto3
from aws_lambda_powertools import Logger
logger = Logger()
client = boto3.client("dynamodb")
def work(event, context):
    for _ in range(calls):
        client.get_item(TableName={table!r}, Key={{"productId": {{"S": "probe"}}}})
if option == "xray-sdk":
    from aws_lambda_powertools import Tracer
    tracer = Tracer(patch_modules=("botocore",))
    handler = tracer.capture_lambda_handler(work, capture_response=False)
elif option == "opentelemetry":
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.propagators.aws import AwsXRayPropagator
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    provider = TracerProvider(id_generator=AwsXRayIdGenerator(),
                              resource=Resource.create({{"service.name": "probe", "cloud.provider": "aws"}}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint={otlp!r})))
    trace.set_tracer_provider(provider)
    BotocoreInstrumentor().instrument()
    tracer, propagator = trace.get_tracer("probe"), AwsXRayPropagator()
    def handler(event, context):
        parent = propagator.extract({{"X-Amzn-Trace-Id": os.environ["_X_AMZN_TRACE_ID"]}})
        try:
            with tracer.start_as_current_span("probe", context=parent, kind=trace.SpanKind.SERVER):
                return work(event, context)
        finally:
            provider.force_flush()  # before Lambda freezes the environment
else:
    handler = work
from localcloud.run_handler import Context
imported = time.perf_counter()
handler({{}}, Context("probe"))
answered = time.perf_counter()
cpu = []
for _ in range(warm):
    before = time.process_time()
    handler({{}}, Context("probe"))
    cpu.append((time.process_time() - before) * 1000)
cpu.sort()
print(json.dumps({{"importMs": (imported - started) * 1000, "answerMs": (answered - started) * 1000,
                  "warmCpuMs": cpu[len(cpu) // 2]}}))
"""


class _Sinks:
    """A UDP stand-in for the X-Ray daemon and an HTTP stand-in for an OTLP endpoint, on loopback,
    counting what they are sent."""

    def __init__(self) -> None:
        self.segments = self.subsegments = self.spans = 0
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        sinks = self

        class Otlp(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
                sinks.spans += sum(
                    len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Otlp)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while True:
            try:
                data = self.udp.recv(65536)
            except OSError:
                return
            document = json.loads(data.split(b"\n", 1)[1])  # a header line, then the document
            self.subsegments += document.get("type") == "subsegment" or len(document.get("subsegments", []))
            self.segments += document.get("type") != "subsegment"

    def reset(self) -> dict:
        sent = {"segments": self.segments, "subsegments": self.subsegments, "spans": self.spans}
        self.segments = self.subsegments = self.spans = 0
        return sent

    def close(self) -> None:
        self.http.shutdown()
        self.udp.close()


@contextmanager
def sinks():
    stand_ins = _Sinks()
    try:
        yield stand_ins
    finally:
        stand_ins.close()


def probe(option: str, endpoint: str, stand_ins: _Sinks, warm: int) -> dict:
    from tests.support import aws

    code = _PROBE.format(
        option=option,
        calls=CALLS,
        warm=warm,
        table=aws.INVENTORY,
        otlp=f"http://127.0.0.1:{stand_ins.http.server_address[1]}/v1/traces",
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "OTEL_"))},
        **lambda_environment("Probe"),
        "AWS_ENDPOINT_URL": endpoint,
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{stand_ins.udp.getsockname()[1]}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(ROOT),
    }
    stand_ins.reset()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"the {option} probe failed: {result.stderr[-2000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    # what one invocation sent (the UDP documents may trail the process by a moment)
    threading.Event().wait(0.2)
    sent = stand_ins.reset()
    return {**figures, "sentPerInvocation": {kind: round(n / (warm + 1), 1) for kind, n in sent.items()}}


def measure(repeat: int, warm: int = 50) -> dict:
    runs: dict[str, list[dict]] = {option: [] for option in OPTIONS}
    with moto_server() as endpoint, sinks() as stand_ins:
        for _ in range(repeat):
            for option in OPTIONS:  # interleaved: a noisy moment hits every option alike
                runs[option].append(probe(option, endpoint, stand_ins, warm))
    base = {key: statistics.median(run[key] for run in runs["active"]) for key in ("importMs", "answerMs", "warmCpuMs")}
    figures = {}
    for option, samples in runs.items():
        medians = {key: statistics.median(run[key] for run in samples) for key in base}
        figures[option] = {
            **{key: round(value, 2) for key, value in medians.items()},
            **{key.replace("Ms", "Ratio"): round(medians[key] / base[key], 2) for key in base},
            "sentPerInvocation": samples[-1]["sentPerInvocation"],
        }
    return {"repeat": repeat, "warmInvocations": warm, "calls": CALLS, "options": figures}


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=2))
