"""The AWS bill of an order, from the counts the local cloud measured (bench/flow.py) and the
list prices in bench/prices.json, and the floor it is held against: the fewest billable
requests any correct design of this domain needs, derived line by line.

    bill(per_order, prices)   -> {service: USD per million orders}   (SES apart: see below)
    floor(per_order, prices)  -> [FloorLine, ...]

Emails are what the business chooses to send, not the platform's overhead: SES is billed on a
line of its own and left out of the platform's total, which is what the floor is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog import EventType
from infra.consumers import FUNCTIONS, PUBLISHER, ScheduledSpec, StreamReaderSpec, consumers_of

MILLION = 1_000_000
GB = 1024**3
SES = "SES (emails sent)"
# Besides each API request, the functions whose invocation starts an X-Ray trace: a schedule, the
# analytics markers' stream. A bus consumer's invocation continues the trace of the PutEvents that
# delivered it, and the outbox (Publisher, tracing PassThrough) gives each entry the trace of the
# invocation that stored its event: every event of an order is in its POST's trace.
TRACE_ROOTS = tuple(
    spec.name
    for spec in FUNCTIONS
    if isinstance(spec, ScheduledSpec) or (isinstance(spec, StreamReaderSpec) and spec is not PUBLISHER)
)
# The order's conversation on the happy path: the events no correct design can do without (the
# shipment: a completed order's units leave `reserved`, which then means units not yet shipped).
SAGA_EVENTS = (
    EventType.ORDER_CREATED,
    EventType.PAYMENT_REQUESTED,
    EventType.PAYMENT_PROCESSED,
    EventType.INVENTORY_RESERVATION_REQUESTED,
    EventType.INVENTORY_UPDATED,
    EventType.ORDER_COMPLETED,
    EventType.INVENTORY_SHIPPED,
)
# Besides its events (the order is its ORDER_CREATED, the saga's state its requests, the payment
# its PAYMENT_PROCESSED, the reservation its INVENTORY_UPDATED and INVENTORY_SHIPPED), the facts an
# order must leave stored, one write each (under 1 KB: 1 write unit). The money's: the card call
# recorded before it is made (exactly once at the provider, a year later too: its key is
# forgotten after a day), and the read model written again with what was captured.
FACTS = (
    "the stock reserved",
    "the stock shipped",
    "the read model",
    "the read model's money",
    "the card call's record",
)
# The reads an order needs: each product's price, from the catalog (the server prices the order).
READS = ("the price of its product",)
FLOOR_LOG_LINE_BYTES = 300 + 26  # one structured line per event handled, and CloudWatch's per-event overhead
FLOOR_IO_SECONDS = 0.010  # a hop waits on its one required request (single-digit ms in the region)
FLOOR_MEMORY_MB = 128  # the smallest Lambda size
# Since 2025-08-01 Lambda bills the INIT phase of on-demand ZIP functions on managed runtimes as it
# bills an invocation: by the millisecond, at the function's memory (AWS Compute Blog, "AWS Lambda
# standardizes billing for INIT Phase"). AWS's analysis of production workloads puts cold starts
# under 1% of invocations; this platform's shape (bursty consumers, scale-outs, deploys) may differ,
# so the bill is given at the stated rate and at a tenth and ten times it.
COLD_START_RATE = 0.01
COLD_START_RATES = (0.001, 0.01, 0.1)


def billed_seconds(
    cpu_seconds: float, wall_seconds: float, memory_mb: int, prices: dict, queued_seconds: float = 0.0
) -> float:
    """The duration AWS would bill: local CPU time stretched to the function's CPU share (one
    full vCPU at 1,769 MB, so 0.14 vCPU at 256 MB), plus the time spent waiting on I/O (the
    wall time the CPU did not account for, the local cloud standing in for AWS's latency), less
    the time it waited for one of this machine's cores (AWS gives it its share to itself)."""
    share = min(1.0, memory_mb / prices["lambda"]["fullVcpuAtMb"])
    return cpu_seconds / share + max(0.0, wall_seconds - cpu_seconds - queued_seconds)


def at_unloaded_durations(loaded: dict, unloaded: dict) -> dict:
    """The loaded run's counts (invocations, requests, units), each invocation billed at the
    duration its function took one order at a time. A saturated 2-core machine stretches every
    duration with its own queueing (for a core, for the local cloud's one server): not AWS's."""
    functions = {}
    for name, figures in loaded["functions"].items():
        alone = unloaded["functions"].get(name)
        if not alone or not alone["invocations"]:
            functions[name] = figures
            continue
        scale = figures["invocations"] / alone["invocations"]
        functions[name] = {
            **figures,
            **{key: alone.get(key, 0.0) * scale for key in ("cpuSeconds", "wallSeconds", "queuedSeconds")},
        }
    return {**loaded, "functions": functions}


def lambda_compute(per_order: dict, prices: dict) -> tuple[float, float]:
    """(GB-seconds, USD) per order of every function's billed duration."""
    gb_seconds = dollars = 0.0
    for figures in per_order["functions"].values():
        seconds = billed_seconds(
            figures["cpuSeconds"],
            figures["wallSeconds"],
            figures["memoryMb"],
            prices,
            figures.get("queuedSeconds", 0.0),
        )
        # billed per millisecond, rounded up: half a millisecond an invocation on average
        seconds += 0.0005 * figures["invocations"]
        gb = seconds * figures["memoryMb"] / 1024
        gb_seconds += gb
        dollars += gb * prices["lambda"]["gbSecond"]["arm64" if figures["arm64"] else "x86_64"]
    return gb_seconds, dollars


def init_seconds(cold_start: dict) -> dict[str, float]:
    """Each function's INIT as the cold-start bench measured it: importing its handler's module (its
    module-level initialisation), the median, on a full core. Third-party measurements on AWS find
    the INIT unthrottled below 1,769 MB; `lambda_init(throttled=True)` gives the bound if it is not."""
    return {name: figures["import"]["medianMs"] / 1000 for name, figures in cold_start["functions"].items()}


def lambda_init(
    per_order: dict, init: dict[str, float], prices: dict, rate: float = COLD_START_RATE, *, throttled: bool = False
) -> tuple[float, float]:
    """(GB-seconds, USD) per order of the INIT phases: each invocation a cold start at `rate`,
    billed for its function's init at its memory. A function the bench did not measure is an
    error, not a free init."""
    gb_seconds = dollars = 0.0
    for name, figures in per_order["functions"].items():
        if name not in init:
            raise KeyError(
                f"{name}: no init duration measured (bench/coldstart.py measures each function "
                "of infra.consumers.FUNCTIONS)"
            )
        seconds = init[name]
        if throttled:
            seconds /= min(1.0, figures["memoryMb"] / prices["lambda"]["fullVcpuAtMb"])
        gb = rate * figures["invocations"] * (seconds + 0.0005) * figures["memoryMb"] / 1024
        gb_seconds += gb
        dollars += gb * prices["lambda"]["gbSecond"]["arm64" if figures["arm64"] else "x86_64"]
    return gb_seconds, dollars


def snapstart(per_order: dict, prices: dict, rate: float = COLD_START_RATE) -> tuple[float, float]:
    """What SnapStart would charge instead of the INIT, per order, and its standing cost a month:
    a restore for each cold start, per GB of the function's memory, and the cache of one published
    version of each function, per GB-second, whether invoked or not. The restore's own billed
    duration (the runtime's load and any after-restore hook) is not counted: it cannot be measured
    without SnapStart, so this is its lowest price."""
    snap, month = prices["lambda"]["snapStart"], 30 * 24 * 3600
    restores = sum(
        rate * f["invocations"] * f["memoryMb"] / 1024 * snap["restorePerGb"] for f in per_order["functions"].values()
    )
    cache = sum(f["memoryMb"] / 1024 * month * snap["cachePerGbSecond"] for f in per_order["functions"].values())
    return restores, cache


def snapstart_break_even_seconds(prices: dict, architecture: str = "arm64") -> float:
    """The init below which a SnapStart restore costs more than the INIT it saves (both per GB)."""
    return prices["lambda"]["snapStart"]["restorePerGb"] / prices["lambda"]["gbSecond"][architecture]


def traces(per_order: dict, prices: dict) -> float:
    """Traces recorded per order: each one started, sampled at the default rule's 5%."""
    functions = per_order["functions"]
    roots = per_order["apiRequests"] + sum(functions[name]["invocations"] for name in TRACE_ROOTS if name in functions)
    return roots * prices["xray"]["samplingRate"]


def bill(
    per_order: dict,
    prices: dict,
    *,
    init: dict[str, float] | None = None,
    cold_start_rate: float = COLD_START_RATE,
    rest_api: bool = True,
) -> dict[str, float]:
    """USD per million orders by service; with `init` (init_seconds), the INIT phases at the rate."""
    c, p = per_order, prices
    _, compute = lambda_compute(c, p)
    api_price = p["apiGateway"]["restRequestsPerMillion" if rest_api else "httpRequestsPerMillion"]
    return {
        "API Gateway": c["apiRequests"] * api_price,
        "Lambda requests": c["lambdaInvocations"] * p["lambda"]["requestsPerMillion"],
        "Lambda duration": compute * MILLION,
        **({"Lambda INIT": lambda_init(c, init, p, cold_start_rate)[1] * MILLION} if init is not None else {}),
        "EventBridge events": c["eventBridgeEvents"] * p["eventbridge"]["customEventsPerMillion"],
        "EventBridge archive": c["archivedBytes"] * MILLION / GB * p["eventbridge"]["archivePerGb"],
        "DynamoDB writes": c["dynamodbWriteUnits"] * p["dynamodb"]["writeRequestUnitsPerMillion"],
        "DynamoDB reads": c["dynamodbReadUnits"] * p["dynamodb"]["readRequestUnitsPerMillion"],
        "SQS": c["sqsRequests"] * p["sqs"]["requestsPerMillion"],
        "CloudWatch Logs": c["logBytes"] * MILLION / GB * p["cloudwatchLogs"]["ingestedPerGb"],
        "X-Ray": traces(c, p) * p["xray"]["tracesRecordedPerMillion"],
        SES: c["emails"] * p["ses"]["emailsPerThousand"] * 1000,
    }


def platform_total(costs: dict[str, float]) -> float:
    return sum(dollars for service, dollars in costs.items() if service != SES)


@dataclass(frozen=True)
class FloorLine:
    service: str
    count: float
    unit: str
    dollars: float  # per million orders
    why: str


def hops() -> dict[EventType, list[str]]:
    """Each saga event and the consumers this design's rules route it to."""
    return {event: consumers_of(event.value) for event in SAGA_EVENTS}


def floor(
    per_order: dict, prices: dict, init_seconds: float | None = None, cold_start_rate: float = COLD_START_RATE
) -> list[FloorLine]:
    """The floor's lines; with `init_seconds` (the least init of a function that calls AWS: the
    cold-start bench's baseline), the INIT of its hops at the cold-start rate."""
    p = prices
    routed = hops()
    consumer_hops = sum(len(names) for names in routed.values())
    archived_per_event = per_order["archivedBytes"] / max(per_order["eventBridgeEvents"], 1)
    invocations = 1 + consumer_hops
    # Each event: its event-store entry, its audit entry, its analytics marker; each email: claimed, then sent.
    writes = len(FACTS) + 3 * len(SAGA_EVENTS) + 2 * per_order["emails"]
    gb_seconds = invocations * FLOOR_IO_SECONDS * FLOOR_MEMORY_MB / 1024
    lines = [
        FloorLine(
            "API Gateway",
            1,
            "request",
            p["apiGateway"]["restRequestsPerMillion"],
            "POST /orders; a REST API, the type that refuses a non-object body before a function runs",
        ),
        FloorLine(
            "EventBridge events",
            len(SAGA_EVENTS),
            "events",
            len(SAGA_EVENTS) * p["eventbridge"]["customEventsPerMillion"],
            "the saga's conversation: " + ", ".join(e.value for e in SAGA_EVENTS),
        ),
        FloorLine(
            "EventBridge archive",
            len(SAGA_EVENTS) * archived_per_event,
            "bytes",
            len(SAGA_EVENTS) * archived_per_event * MILLION / GB * p["eventbridge"]["archivePerGb"],
            "those events kept for replay, at the size measured",
        ),
        FloorLine(
            "DynamoDB reads",
            len(READS),
            "read units",
            len(READS) * p["dynamodb"]["readRequestUnitsPerMillion"],
            "one strongly consistent read of " + ", ".join(READS) + ": the price is the server's, and an order "
            "placed after a change is priced at it",
        ),
        FloorLine(
            "DynamoDB writes",
            writes,
            "write units",
            writes * p["dynamodb"]["writeRequestUnitsPerMillion"],
            "one 1 KB write for each event in the event store (the source of truth: the order is its "
            "ORDER_CREATED, the saga's state its requests, the payment its PAYMENT_PROCESSED, the "
            "reservation its INVENTORY_UPDATED and INVENTORY_SHIPPED), one "
            "for each other fact (" + ", ".join(FACTS) + "), and for each event one audit entry and one "
            "analytics marker (a consumer handed one event at a time, at least once, and again by a replay, "
            "counts it exactly once only by remembering it); two for each of the "
            f"{per_order['emails']:g} emails, claimed before SES and marked sent after (SES takes no "
            "idempotency key: one record cannot tell a sent email from a claim whose sender crashed; a card "
            "network takes one, but forgets it after a day, so the charge needs its call recorded once)",
        ),
        FloorLine(
            "Lambda requests",
            invocations,
            "invocations",
            invocations * p["lambda"]["requestsPerMillion"],
            f"one per hop: the API, and each event to each consumer its rules route it to ({consumer_hops}: "
            + "; ".join(f"{e.value} to {len(n)}" for e, n in routed.items())
            + "); the outbox needs none of its own per order (a stream batch carries many events)",
        ),
        FloorLine(
            "Lambda duration",
            gb_seconds,
            "GB-s",
            gb_seconds * p["lambda"]["gbSecond"]["arm64"] * MILLION,
            f"each hop {FLOOR_IO_SECONDS * 1000:.0f} ms waiting on its one request, at {FLOOR_MEMORY_MB} MB, arm64",
        ),
        FloorLine(
            "CloudWatch Logs",
            invocations * FLOOR_LOG_LINE_BYTES,
            "bytes",
            invocations * FLOOR_LOG_LINE_BYTES * MILLION / GB * p["cloudwatchLogs"]["ingestedPerGb"],
            "one structured line of about 300 bytes for each hop",
        ),
    ]
    if init_seconds is not None:
        init_gb_seconds = cold_start_rate * invocations * init_seconds * FLOOR_MEMORY_MB / 1024
        lines.insert(
            -1,
            FloorLine(
                "Lambda INIT",
                init_gb_seconds,
                "GB-s",
                init_gb_seconds * p["lambda"]["gbSecond"]["arm64"] * MILLION,
                f"{cold_start_rate:.1%} of the hops a cold start, each the least init of a function that calls AWS "
                f"(import boto3 and make one client: {init_seconds * 1000:.0f} ms measured), "
                f"at {FLOOR_MEMORY_MB} MB, arm64",
            ),
        )
    return lines
