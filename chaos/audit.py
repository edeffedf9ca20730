"""The audit: after a scenario, account for every event it put in.

  events in    every event the event store holds under the scenario's correlation ids, and
               every entry the scenario put on the bus by hand
  processed    every consumer the rules route it to has processed it: the conditional write
               that makes it exactly-once is there, as the consumer's spec says (`once` in
               infra/consumers.py): an item of its table keyed by the event (the email's SENT
               or SKIPPED record), or one of CHECKS below (the read model at the event's version
               or later, the audit entry, the analytics marker, nothing left due by the saga for
               the event's order, the answer on the payment's or the reservation's stream)
  parked       at least one of those consumers (or the publisher) parked it in its dead-letter
               queue, with a reason; the others processed it
  lost         some consumer neither processed nor parked it
  duplicated   an effect that happened twice: a second email (SES), a second charge or refund,
               a second reservation or release, a counter counted twice, a saga command issued
               twice, an order both completed and cancelled

events in = processed + parked + lost; a run passes when lost and duplicated are 0 and each
scenario's own checks hold.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from analytics.counters import MONEY, NEEDS_THE_ORDER_BEFORE, increments
from analytics.fold import COUNT_METRICS, MONEY_METRICS
from catalog import EventType, parse_event
from chaos.world import PUBLISHER_NAME, SETTLED, Scope, World
from eventstore.answers import PAYMENTS, RESERVATIONS
from infra import consumers as declared
from infra.consumers import ConsumerSpec, Recorded, consumers_of
from infra.tables import TABLES
from ops.redrive import REFUSED, STREAM_BATCH, Redrive, classify
from orders.aggregate import Order, OrderStatus
from orders.limits import per_product

ONCE_PER_SAGA = (
    "PAYMENT_REQUESTED",
    "INVENTORY_RESERVATION_REQUESTED",
    "PAYMENT_REFUND_REQUESTED",
    "INVENTORY_RELEASE_REQUESTED",
)
ONCE_PER_PAYMENT = ("PAYMENT_PROCESSED", "PAYMENT_FAILED", "PAYMENT_REFUNDED")
ONCE_PER_RESERVATION = ("INVENTORY_UPDATED", "INVENTORY_INSUFFICIENT", "INVENTORY_RELEASED")


@dataclass
class Row:
    scenario: str
    events: int = 0
    processed: int = 0
    parked: int = 0
    lost: int = 0
    duplicated: int = 0
    checks: dict[str, bool] = field(default_factory=dict)  # a scenario's own checks, by description
    details: list[str] = field(default_factory=list)  # what was lost or duplicated, for the reader
    reasons: list[str] = field(default_factory=list)  # why each parked event of the scope was parked
    parked_by: dict[str, list[str]] = field(default_factory=dict)  # event id: the owners that parked it
    name: str = ""  # the scenario's name on the command line (`--scenarios`)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and all(self.checks.values())


@dataclass
class ParkedEvent:
    owner: str
    event_id: str
    reason: str


# ---- reading the platform --------------------------------------------------------------------


def stored_events(world: World, prefix: str) -> list[dict]:
    items, kwargs = (
        [],
        {
            "TableName": world.outputs["EventStoreTableName"],
            "ConsistentRead": True,
            "FilterExpression": "begins_with(correlationId, :p)",
            "ExpressionAttributeValues": {":p": {"S": prefix}},
        },
    )
    for page in world.dynamodb.get_paginator("scan").paginate(**kwargs):
        for item in page["Items"]:
            items.append(
                {
                    "eventId": item["eventId"]["S"],
                    "eventType": item["eventType"]["S"],
                    "aggregateId": item["aggregateId"]["S"],
                    "version": int(item["version"]["N"]),
                    "source": item["source"]["S"],
                    "detail": json.loads(item["detail"]["S"]),
                }
            )
    return items


# (event id, event type, its envelope) of everything routed: the store's events and the scenario's own entries
Routed = list[tuple[str, str, dict]]


def own_writes(
    world: World, scope: Scope, events: list[dict], consumers: tuple[ConsumerSpec, ...] | None = None
) -> set[tuple[str, str]]:
    """(consumer, event id) for every event whose exactly-once write its consumer has made, each
    consumer (every one declared, by default) checked as its spec's `once` says."""
    routed: Routed = [(e["eventId"], e["eventType"], e["detail"]) for e in events]
    routed += [
        (str(d["detail"].get("eventId")), d["detail-type"], d["detail"])
        for d in scope.put_directly
        if isinstance(d["detail"], dict)
    ]
    found: set[tuple[str, str]] = set()
    for spec in declared.CONSUMERS if consumers is None else consumers:
        mine = [
            (event_id, event_type, detail)
            for event_id, event_type, detail in routed
            if spec.name in consumers_of(event_type)
        ]
        if isinstance(spec.once, Recorded):
            found |= recorded(world, spec, spec.once, mine)
        else:
            found |= {(spec.name, event_id) for event_id in CHECKS[spec.once.name](world, scope, events, mine)}
    return found


def recorded(world: World, spec: ConsumerSpec, once: Recorded, routed: Routed) -> set[tuple[str, str]]:
    """The events whose item is in the consumer's table (with `done`'s attribute at a done value)."""
    table = TABLES[once.table]
    keys = {event_id: key for event_id, _, detail in routed if (key := once.key_of(detail)) is not None}
    attributes = (once.done[0],) if once.done else ()
    items = {
        item[table.partition.name]["S"]: item
        for item in world.batch_get(world.outputs[table.output], table.partition.name, list(keys.values()), attributes)
    }
    done = {
        key
        for key, item in items.items()
        if not once.done or next(iter(item.get(once.done[0], {}).values()), None) in once.done[1]
    }
    return {(spec.name, event_id) for event_id, key in keys.items() if key in done}


def _analytics_markers(world: World, scope: Scope, events: list[dict], routed: Routed) -> set[str]:
    return set(world.analytics_markers([event_id for event_id, _, _ in routed]))


def _audit_log(world: World, scope: Scope, events: list[dict], routed: Routed) -> set[str]:
    pages = world.dynamodb.get_paginator("scan").paginate(
        TableName=world.outputs["AuditTableName"],
        ConsistentRead=True,
        ProjectionExpression="eventId",
        FilterExpression="begins_with(correlationId, :p)",
        ExpressionAttributeValues={":p": {"S": scope.prefix}},
    )
    return {item["eventId"]["S"] for page in pages for item in page["Items"]}


def _read_model_version(world: World, scope: Scope, events: list[dict], routed: Routed) -> set[str]:
    """An order's event is applied once the read model is at its version or past it, a payment's
    answer (`payment:<orderId>`) once the order's paymentVersion is."""
    projected = [e for e in events if "OrdersProjection" in consumers_of(e["eventType"])]
    paying = PAYMENTS.stream("")
    items = world.batch_get(
        world.outputs["OrdersTableName"],
        "orderId",
        [e["aggregateId"].removeprefix(paying) for e in projected],
        ("version", "paymentVersion"),
    )
    versions = {item["orderId"]["S"]: int(item["version"]["N"]) for item in items}
    versions |= {paying + item["orderId"]["S"]: int(item.get("paymentVersion", {"N": "0"})["N"]) for item in items}
    return {e["eventId"] for e in projected if versions.get(e["aggregateId"], 0) >= e["version"]}


def _saga_decision(world: World, scope: Scope, events: list[dict], routed: Routed) -> set[str]:
    """The saga keeps no record of what it handled, and needs none: it has done its work for an
    event when, given its order's streams as they stood up to that event (and every command the
    saga has asked since), its own decision asks for nothing more; an event about an order the
    store does not hold starts nothing, by design."""
    return _saga_done(events, scope.put_directly)


def _payment_answer(world: World, scope: Scope, events: list[dict], routed: Routed) -> set[str]:
    """A request leaves its answer on the order's payment stream; an undo its undo, unless there
    was nothing done to undo."""
    return _answered(
        events,
        routed,
        PAYMENTS.stream(""),
        "PAYMENT_REQUESTED",
        answers={"PAYMENT_PROCESSED", "PAYMENT_FAILED"},
        done="PAYMENT_PROCESSED",
        undone={"PAYMENT_REFUNDED"},
    )


def _reservation_answer(world: World, scope: Scope, events: list[dict], routed: Routed) -> set[str]:
    return _answered(
        events,
        routed,
        RESERVATIONS.stream(""),
        "INVENTORY_RESERVATION_REQUESTED",
        answers={"INVENTORY_UPDATED", "INVENTORY_INSUFFICIENT"},
        done="INVENTORY_UPDATED",
        undone={"INVENTORY_RELEASED", "INVENTORY_SHIPPED"},
    )  # a reservation ends one way


# The checks a consumer's spec names (`Checked(name)`): the event ids whose effect is there.
CHECKS: dict[str, Callable[[World, Scope, list[dict], Routed], set[str]]] = {
    "analytics-marker": _analytics_markers,
    "audit-log": _audit_log,
    "read-model-version": _read_model_version,
    "saga-decision": _saga_decision,
    "payment-answer": _payment_answer,
    "reservation-answer": _reservation_answer,
}


def _saga_done(events: list[dict], put_directly: list[dict]) -> set[str]:
    """The ids of the saga's events whose work is done: its own decision asks for nothing more,
    given the order's streams as they stood at the event, and everything the saga itself has
    written since (its commands, the order's completion or cancellation): it may have done the
    work on any later wake-up."""
    from eventstore.sagas import saga_stream
    from saga.coordinator import SAGA_USER
    from saga.machine import Facts, decide  # the saga's pure decision, as the function runs it

    streams = {saga_stream(""): "commands", PAYMENTS.stream(""): "payment", RESERVATIONS.stream(""): "reservation"}
    by_order: dict[str, list[tuple[str, dict]]] = defaultdict(list)  # order id: (stream, event)
    for event in sorted(events, key=lambda e: e["version"]):
        prefix = next((p for p in streams if event["aggregateId"].startswith(p)), "")
        by_order[event["aggregateId"].removeprefix(prefix)].append((streams.get(prefix, "order"), event["detail"]))
    triggers = [(e["eventType"], e["detail"]) for e in events]
    triggers += [(d["detail-type"], d["detail"]) for d in put_directly if isinstance(d["detail"], dict)]
    done = set()
    for event_type, trigger in triggers:
        payload = trigger.get("payload")
        if "OrderSaga" not in consumers_of(event_type) or not isinstance(payload, dict):
            continue
        facts = Facts()
        history = by_order.get(str(payload.get("orderId")), [])
        for stream, detail in history:
            by_saga = stream == "commands" or detail.get("metadata", {}).get("userId") == SAGA_USER
            earlier = (
                str(detail.get("timestamp")) < str(trigger.get("timestamp"))
                or detail.get("eventType") == "ORDER_CREATED"
            )  # an order's first event: before all its others
            if by_saga or earlier or detail.get("eventId") == trigger.get("eventId"):
                getattr(facts, stream).append(parse_event(json.dumps(detail)))
        # The order's stream as the saga read it is whole up to its last event there: a change the
        # customer made before the saga settled the order came before that settlement.
        last = max((e.version for e in facts.order), default=0)
        facts.order = [
            parse_event(json.dumps(d))
            for stream, d in history
            if stream == "order" and d.get("metadata", {}).get("version", 0) <= last
        ]
        if not decide(facts).changed:
            done.add(str(trigger.get("eventId")))
    return done


def _answered(
    events: list[dict], routed: Routed, stream: str, request: str, *, answers: set[str], done: str, undone: set[str]
) -> set[str]:
    """The ids of each request the consumer answered on the order's stream, and of each end it
    made of that answer (a refund; a release, or a shipment once the order completed), or had
    nothing to end."""
    on_stream: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e["aggregateId"].startswith(stream):
            on_stream[e["aggregateId"].removeprefix(stream)].add(e["eventType"])
    found = set()
    for event_id, event_type, detail in routed:
        payload = detail.get("payload")
        if not isinstance(payload, dict):
            continue
        answered = on_stream.get(str(payload.get("orderId")), set())
        if answered & answers if event_type == request else answered & undone or done not in answered:
            found.add(event_id)
    return found


def dead_letters(world: World) -> list[ParkedEvent]:
    """Everything parked in every dead-letter queue, left there. Each message is held while the
    queue is read (a receive at visibility 0 may show the same ten again and again), then let go."""
    found = []
    for owner in [*world.consumers(), PUBLISHER_NAME]:
        queue_url = world.outputs[f"{owner}DeadLetterQueueUrl"]
        held: list[dict] = []
        while batch := world.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
            AttributeNames=["SentTimestamp"],
            MessageAttributeNames=["All"],
        ).get("Messages", []):
            held += batch
        for start in range(0, len(held), 10):
            world.sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(held[start : start + 10])
                ],
            )
        for message in held:
            parked = classify(message)
            if parked.kind == STREAM_BATCH:  # a batch the stream gave up on: each of its events is parked
                found += [ParkedEvent(owner, event_id, parked.error) for event_id in batch_events(world, parked)]
                continue
            event_id = f"item:{parked.event_type}" if parked.kind == REFUSED else parked.event_id
            found.append(ParkedEvent(owner, event_id, parked.error))
    return found


def batch_events(world: World, parked) -> list[str]:
    """The event ids of a parked stream batch, read back from the stream as the redrive does."""
    redrive = Redrive(PUBLISHER_NAME, world.outputs.values, sqs=world.sqs, lambda_=world.lambda_, streams=world.streams)
    records = redrive.stream_records(parked.body["DDBStreamBatchInfo"])
    return [
        r["dynamodb"]["NewImage"]["eventId"]["S"] for r in records if "eventId" in r["dynamodb"].get("NewImage", {})
    ]


# ---- the audit ------------------------------------------------------------------------------


def settle(world: World, scope: Scope, *, timeout: float = 1800, idle_for: float = 3, quiet_for: float = 60) -> None:
    """Until every order of the scope is COMPLETED or CANCELLED; or, some held by a parked event
    (until the saga's timeout), until nothing has moved and nothing has been in flight for
    `idle_for` seconds (nothing left to move them but the saga's sweep: the audit then names
    what is missing); or, at the most, until nothing has moved for `quiet_for` seconds."""
    started = last_change = idle_since = time.monotonic()
    last, last_log = None, 0.0
    while time.monotonic() - started < timeout:
        states = world.read_model(scope.orders)
        terminal = sum(1 for o in states.values() if o.get("status", {}).get("S") in SETTLED)
        if terminal == len(scope.orders):
            return
        now, figures = time.monotonic(), (terminal, sum(int(o["version"]["N"]) for o in states.values()))
        if figures != last:
            last, last_change = figures, now
            if now - last_log >= 15:
                last_log = now
                statuses = Counter(
                    states.get(o, {}).get("status", {}).get("S", "not in the read model") for o in scope.orders
                )
                world.log(f"  {scope.name}: {terminal}/{len(scope.orders)} orders settled {dict(statuses)}")
        if last_change == now or world.cloud.in_flight():
            idle_since = now
        if now - idle_since >= idle_for or now - last_change > quiet_for:
            return
        time.sleep(1)


def audit(world: World, scope: Scope, *, settle: float = 30, timeout: float = 600) -> Row:
    """Account for the scope's events; keeps looking while anything is still moving (events in
    flight count as lost until they land), then reports."""
    deadline, last, stable_since = time.monotonic() + timeout, None, time.monotonic()
    while True:
        row, events = _account(world, scope)
        _duplicates(world, scope, events, row)
        figures = (row.events, row.processed, row.parked, row.lost)
        if row.lost == 0 and last == figures and world.cloud.in_flight() == 0:
            return row
        if figures != last:
            last, stable_since = figures, time.monotonic()
        elif time.monotonic() - stable_since > settle or time.monotonic() > deadline:
            return row
        time.sleep(1)


def _account(world: World, scope: Scope) -> tuple[Row, list[dict]]:
    """Each event of the scope processed, parked or (so far) lost, and the events stored; the
    effects not yet counted."""
    row = Row(scope.name)
    events = stored_events(world, scope.prefix)
    # (event id, type, source) of everything that went in: the store's and the scenario's own entries
    entries = [(e["eventId"], e["eventType"], e["source"]) for e in events]
    entries += [
        (d["detail"].get("eventId", "?") if isinstance(d["detail"], dict) else "?", d["detail-type"], d["source"])
        for d in scope.put_directly
    ]
    parked = dead_letters(world)
    parked_by_event: dict[str, list[ParkedEvent]] = defaultdict(list)
    for p in parked:
        parked_by_event[p.event_id].append(p)

    done = own_writes(world, scope, events)
    row.events = len(entries) + len(scope.stream_items)
    for event_id, event_type, source in entries:
        parked_here = {p.owner for p in parked_by_event.get(event_id, [])}
        missing = [c for c in consumers_of(event_type, source) if (c, event_id) not in done and c not in parked_here]
        if PUBLISHER_NAME in parked_here:
            missing = []  # parked before it reached the bus
        if missing:
            row.lost += 1
            row.details.append(f"lost: {event_type} {event_id} never reached {', '.join(missing)}")
        elif parked_here:
            row.parked += 1
            row.parked_by[event_id] = sorted(parked_here)
            row.reasons += [p.reason for p in parked_by_event[event_id]]
        else:
            row.processed += 1
    for item in scope.stream_items:  # items written to the store by hand: refused by the publisher
        key = f"item:aggregateId={item['aggregateId']},version={item['version']}"
        if parked_by_event.get(key):
            row.parked += 1
            row.reasons += [p.reason for p in parked_by_event[key]]
        else:
            row.lost += 1
            row.details.append(f"lost: stream item {key} neither published nor parked")
    return row, events


ORDER_EMAILS = ("ORDER_CREATED", "ORDER_CANCELLED", "ORDER_COMPLETED")  # the events Email writes to a customer about


def _duplicates(world: World, scope: Scope, events: list[dict], row: Row) -> None:
    # 1. emails: one per (recipient, subject); subjects name the order
    world.collect_emails()
    sent = Counter(
        (tuple(m.get("To") or m.get("Destination", {}).get("ToAddresses", [])), m.get("Subject"))
        for m in world.emails.values()
    )
    for (to, subject), count in sent.items():
        if scope.email in to and count > 1:
            row.duplicated += count - 1
            row.details.append(f"duplicated: {count} emails '{subject}' to {scope.email}")
    # ...and that count sees the emails at all: every order email the Email log marks SENT is in
    # SES's outbox (an outbox read as empty would find no duplicate, and prove nothing)
    order_emails = {e["eventId"]: e["aggregateId"] for e in events if e["eventType"] in ORDER_EMAILS}
    marked = sum(
        1
        for item in world.batch_get(
            world.outputs["EmailLogTableName"], "id", [f"sent#{i}" for i in order_emails], ("status",)
        )
        if item.get("status", {}).get("S") == "SENT"
    )
    ordered = set(order_emails.values())
    seen = sum(1 for to, subject in sent if scope.email in to and any(o in (subject or "") for o in ordered))
    if scope.name == "restart":
        # the emulator keeps SES's outbox in memory: what was sent between the last read before
        # the stop and the stop itself is gone from it (not from the recipient), so fewer is allowed
        row.checks[
            f"order emails marked SENT found in SES: {seen}/{marked} (the emulator's outbox does not survive "
            f"its restart), at least 1"
        ] = 1 <= seen <= marked
    else:
        row.checks[f"order emails marked SENT found in SES: {seen}/{marked}, at least 1"] = seen == marked >= 1 or (
            not ordered and marked == 0
        )
    # 2. payments, reservations, saga commands, order outcomes: at most one of each per stream
    per_stream = Counter((e["aggregateId"], e["eventType"]) for e in events)
    once = set(ONCE_PER_SAGA + ONCE_PER_PAYMENT + ONCE_PER_RESERVATION + ("ORDER_COMPLETED", "ORDER_CANCELLED"))
    for (aggregate, event_type), count in per_stream.items():
        if event_type in once and count > 1:
            row.duplicated += count - 1
            row.details.append(f"duplicated: {count} x {event_type} on {aggregate}")
    outcomes = Counter(e["aggregateId"] for e in events if e["eventType"] in ("ORDER_COMPLETED", "ORDER_CANCELLED"))
    row.duplicated += sum(1 for count in outcomes.values() if count > 1)
    # 3. stock: what is available is what was there less what orders took (reserved and not
    # released); what is reserved, what they took and did not ship
    units = {
        kind: sum(_reserved(e, scope.sku) for e in events if e["eventType"] == f"INVENTORY_{kind}")
        for kind in ("UPDATED", "RELEASED", "SHIPPED")
    }
    held = units["UPDATED"] - units["RELEASED"]
    stock = world.api("GET", f"/inventory/{scope.sku}")
    left, reserved = int(stock.get("available", 0)), int(stock.get("reserved", 0))
    if left != scope.stock - held:
        row.duplicated += abs(scope.stock - held - left)
        row.details.append(f"stock of {scope.sku}: {left} left, {scope.stock} - {held} held expected")
    if reserved != held - units["SHIPPED"]:
        row.duplicated += abs(held - units["SHIPPED"] - reserved)
        row.details.append(
            f"stock of {scope.sku}: {reserved} reserved, {held} held - {units['SHIPPED']} shipped expected"
        )
    # 4. counters: the day's event count moved by exactly the events Analytics counted (each
    # marked once, and folded from the markers' stream into the day's lanes)
    ids = [e["eventId"] for e in events] + [
        str(d["detail"].get("eventId")) for d in scope.put_directly if isinstance(d["detail"], dict)
    ]
    counted = len(world.analytics_markers(ids))
    since = world.counters_since(scope.first_day)
    moved = since["events"] - scope.day_before.get("events", 0)
    if moved != counted:
        row.duplicated += max(0, moved - counted)
        row.lost += max(0, counted - moved)
        row.details.append(f"analytics: the day's events moved by {moved}, {counted} events marked counted")
    _books(world, scope, events, row, since)


def _books(world: World, scope: Scope, events: list[dict], row: Row, since: dict[str, Any]) -> None:
    """The money of the scope's orders. Each settled order: completed, captured - refunded is its
    final total and its reservation its final lines; cancelled, both nothing. And the day's
    analytics moved by exactly the scope's money, in each currency: what was booked, cancelled,
    captured and refunded (so revenue = captured - refunded); `since`, the counters of the days
    since the scope started, read once by the caller."""
    streams: dict[str, list] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e["aggregateId"], e["version"])):
        streams[event["aggregateId"]].append(parse_event(event["detail"]))
    expected: dict[str, Decimal] = defaultdict(Decimal)
    settled = pending = 0
    # what Analytics has counted (an event it parked is counted once it is redriven)
    marked = world.analytics_markers([e["eventId"] for e in events])
    for stream_id, history in streams.items():
        for event in history:  # what each of the scope's events counted adds to the day's money
            if str(event.eventId) not in marked:
                continue
            before = Order.replay(history[: event.version - 1]) if event.eventType in NEEDS_THE_ORDER_BEFORE else None
            for name, value in increments(event, before).items():
                if name.partition(":")[0] in MONEY:
                    expected[name] += value
        if history[0].eventType != EventType.ORDER_CREATED:
            continue
        order = Order.replay(history)
        if order is None or order.status is OrderStatus.PENDING:
            pending += 1
            continue
        settled += 1
        payment = streams.get(f"{PAYMENTS.stream(stream_id)}", [])
        kept = sum((e.payload.amount for e in payment if e.eventType == EventType.PAYMENT_PROCESSED), Decimal(0))
        kept -= sum((e.payload.amount for e in payment if e.eventType == EventType.PAYMENT_REFUNDED), Decimal(0))
        held: Counter = Counter()
        for answer in streams.get(f"{RESERVATIONS.stream(stream_id)}", []):
            sign = {EventType.INVENTORY_UPDATED: 1, EventType.INVENTORY_RELEASED: -1}.get(answer.eventType, 0)
            for line in getattr(answer.payload, "lines", ()):
                held[line.productId] += sign * line.quantity
        held = +held  # the products still held
        if order.status is OrderStatus.COMPLETED:
            owed, lines = order.totalAmount, per_product(order.items)
        else:
            owed, lines = Decimal(0), {}
        if kept != owed or dict(held) != lines:
            row.details.append(
                f"money: order {stream_id} {order.status.value}: kept {kept} of {owed} "
                f"{order.currency}, holds {dict(held)} for {lines}"
            )
    broken = sum(1 for detail in row.details if detail.startswith("money: order"))
    row.checks[
        f"money: {settled} settled orders keep their final total (completed) or nothing (cancelled), and "
        f"hold their final lines or none; {broken} do not ({pending} pending)"
    ] = broken == 0
    counted = since["byCurrency"]
    before_scope = scope.day_before.get("byCurrency", {})
    moved = {
        f"{name}:{code}": Decimal(counted[code][name]) - Decimal(before_scope.get(code, {}).get(name, "0"))
        for code in counted
        for name in MONEY
    }
    moved = {name: value for name, value in moved.items() if value}
    wanted = {name: value for name, value in expected.items() if value}
    revenue = {
        code: f"{wanted.get(f'captured:{code}', 0) - wanted.get(f'refunded:{code}', 0):.2f}"
        for code in sorted({name.partition(":")[2] for name in wanted})
    }
    row.checks[
        f"analytics: the day's money moved by the scope's own (its events counted) in each currency; "
        f"revenue = captured - refunded: {revenue}"
    ] = moved == wanted
    if moved != wanted:
        row.details.append(f"analytics: the day's money moved by {moved}, the scope's events hold {wanted}")


def metrics_equal_counters(world: World, since: float) -> Row:
    """Every day's metrics, as the fold published them (its EMF records, each stamped in the day
    of the events it counts), equal that day's counters: each event once in both."""
    row = Row("the books: metrics = counters, every day and currency")
    published: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in world.log_records("AnalyticsFold", '"_aws"', since):
        meta = record.get("_aws")
        if meta:
            day = time.strftime("%Y-%m-%d", time.gmtime(meta["Timestamp"] / 1000))
            for directive in meta["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    name = metric["Name"] + (f":{record['Currency']}" if "Currency" in record else "")
                    value = record[metric["Name"]]  # a number, or a list of them (EMF's values)
                    for one in value if isinstance(value, list) else [value]:
                        published[day][name] += Decimal(str(one))
    for day, metrics in sorted(published.items()):
        counters = world.counters_of(day)
        wanted: dict[str, Decimal] = {}
        for counter, name in COUNT_METRICS.items():
            if counters.get(counter):
                wanted[name] = Decimal(counters[counter])
        for code, figures in counters.get("byCurrency", {}).items():
            for kind, name in MONEY_METRICS.items():
                if Decimal(figures[kind]):
                    wanted[f"{name}:{code}"] = Decimal(figures[kind])
        got = {name: value.quantize(Decimal("0.01")) for name, value in metrics.items() if value}
        wanted = {name: value.quantize(Decimal("0.01")) for name, value in wanted.items()}
        row.checks[f"{day}: {len(wanted)} metrics equal the counters"] = got == wanted
        if got != wanted:
            row.details.append(f"{day}: published {got}, counted {wanted}")
    row.checks["metrics were published"] = bool(published)
    return row


def _reserved(event: dict, sku: str) -> int:
    payload = event["detail"].get("payload", {})
    return sum(int(line.get("quantity", 0)) for line in payload.get("lines", []) if line.get("productId") == sku)
