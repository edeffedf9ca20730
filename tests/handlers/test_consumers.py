"""The email, analytics and audit consumers, each delivered the same event twice: one effect."""

from __future__ import annotations

import contextlib
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from catalog import Envelope, EventType, new_event
from catalog.payloads import OrderCompleted, UserRegistered
from tests.support import aws, orders


def registered(user_id: str = "cust-1", email: str = "ada@example.com"):
    return new_event(
        EventType.USER_REGISTERED,
        aggregate_id=user_id,
        payload=UserRegistered(userId=user_id, email=email, name="Ada"),
        version=1,
        user_id=user_id,
        correlation_id="corr-1",
    )


def completed(order_id: str = "order-1", version: int = 2):
    return new_event(
        EventType.ORDER_COMPLETED,
        aggregate_id=order_id,
        payload=OrderCompleted(orderId=order_id),
        version=version,
        user_id="saga",
        correlation_id="corr-1",
        causation_id="cause-1",
    )


def deliver(handler, event, context, times: int = 1, *, stored: bool = True):
    """The bus delivering the event `times` times; as the platform's own events are, held by the
    event store first (the email consumer and the projection act only on those)."""
    if stored:
        held(event)
    return [handler(orders.bus_event(event), context) for _ in range(times)]


def held(event):
    """The event, appended to the event store unless the store holds it already."""
    from eventstore.store import ConcurrencyError, EventStore

    with contextlib.suppress(ConcurrencyError):
        EventStore(aws.EVENT_STORE).append([event])
    return event


def sent_emails() -> list[Any]:
    from moto.ses.models import ses_backends

    return ses_backends["123456789012"]["us-east-1"].sent_messages


# ---- email ---------------------------------------------------------------------------------


@pytest.fixture
def email(tables):
    from notifications.handler import handler

    return handler


def test_a_registration_is_welcomed_once_even_when_delivered_twice(email, lambda_context):
    first, second = deliver(email, registered(), lambda_context, times=2)
    assert first == second
    assert first["outcome"] == "sent"
    [message] = sent_emails()
    assert message.destinations["ToAddresses"] == ["ada@example.com"]
    assert message.source == aws.SENDER
    assert message.subject == "Welcome, Ada"


def test_order_emails_go_to_the_registered_customer(email, lambda_context):
    deliver(email, registered(), lambda_context)
    deliver(email, orders.created(customer_id="cust-1"), lambda_context)
    deliver(email, orders.cancelled(version=2, reason="too slow"), lambda_context)
    subjects = [m.subject for m in sent_emails()]
    assert subjects == ["Welcome, Ada", "We received your order order-1", "Your order order-1 was cancelled"]
    assert "Total: 44.98" in sent_emails()[1].body
    assert "too slow" in sent_emails()[2].body


def test_a_customer_without_an_address_is_skipped_not_failed(email, lambda_context):
    [result] = deliver(email, orders.created(customer_id="never-registered"), lambda_context)
    assert result == {"outcome": "skipped", "reason": "no email address known for never-registered"}
    assert sent_emails() == []


def test_an_event_the_store_does_not_hold_fails_so_it_is_retried(email, lambda_context):
    from eventstore.store import NotInEventStore

    deliver(email, registered(), lambda_context)
    with pytest.raises(NotInEventStore, match="is not in the event store: nothing is stored there"):
        deliver(email, completed(), lambda_context, stored=False)
    assert [m.subject for m in sent_emails()] == ["Welcome, Ada"]
    deliver(email, orders.created(customer_id="cust-1"), lambda_context)
    deliver(email, completed(), lambda_context)  # the retry, once the store holds it
    assert sent_emails()[-1].subject == "Your order order-1 is confirmed"


def test_an_order_event_without_its_order_fails_so_it_is_retried(email, lambda_context):
    from notifications.mailer import OrderUnknown

    completion = completed()
    with pytest.raises(OrderUnknown, match="holds no order order-1"):  # a v2 stored before its v1
        deliver(email, completion, lambda_context)
    deliver(email, registered(), lambda_context)
    deliver(email, orders.created(customer_id="cust-1"), lambda_context)
    deliver(email, completion, lambda_context)  # the retry, once the order is there
    assert sent_emails()[-1].subject == "Your order order-1 is confirmed"


# ---- analytics -----------------------------------------------------------------------------


@pytest.fixture
def analytics(tables):
    from analytics.consumer import handler

    return handler


def fold_the_stream(context) -> dict:
    """What the fold function does with the markers' stream: here, the whole stream in one batch."""
    from analytics.fold import handler

    return handler({"Records": aws.stream_records(aws.ANALYTICS_EVENTS)}, context)


def daily(day: str) -> dict:
    from analytics.counters import DailyCounters

    return DailyCounters(aws.ANALYTICS).day(day)


def test_counters_count_each_event_once(analytics, lambda_context):
    created = orders.created()
    deliver(analytics, created, lambda_context, times=3)
    deliver(analytics, orders.cancelled(version=2), lambda_context)
    deliver(analytics, registered(), lambda_context)
    date = created.timestamp.date().isoformat()
    assert daily(date)["events"] == 0  # counted, not yet folded
    assert fold_the_stream(lambda_context)["folded"] == 3
    day = daily(date)
    assert (day["events"], day["ordersPlaced"], day["ordersCancelled"], day["usersRegistered"]) == (3, 1, 1, 1)
    # booked when placed, and the same total taken off when cancelled: net, nothing was sold
    assert day["byCurrency"] == {
        "EUR": {
            "booked": "44.98",
            "cancelled": "44.98",
            "captured": "0.00",
            "refunded": "0.00",
            "netBooked": "0.00",
            "revenue": "0.00",
        }
    }
    assert day["byEventType"] == {"ORDER_CANCELLED": 1, "ORDER_CREATED": 1, "USER_REGISTERED": 1}


def test_a_change_books_what_it_added_and_a_cancellation_takes_off_the_total_it_had(analytics, lambda_context):
    created = orders.created()  # 44.98
    deliver(analytics, created, lambda_context)
    deliver(analytics, orders.updated(quantity=3), lambda_context)  # 59.97: 14.99 more
    deliver(analytics, orders.cancelled(version=3), lambda_context, times=2)
    fold_the_stream(lambda_context)
    euros = daily(created.timestamp.date().isoformat())["byCurrency"]["EUR"]
    assert (euros["booked"], euros["cancelled"], euros["netBooked"]) == ("59.97", "59.97", "0.00")


def test_money_is_counted_in_each_currency_and_never_added_to_another(analytics, lambda_context):
    from catalog.payloads import PaymentProcessed, PaymentRefunded

    for n, currency in enumerate(("EUR", "USD", "SEK", "SEK")):
        order_id = f"o-{n}"
        deliver(analytics, orders.created(order_id=order_id, currency=currency), lambda_context)
        deliver(
            analytics,
            answer(
                EventType.PAYMENT_PROCESSED,
                PaymentProcessed(orderId=order_id, paymentId=f"pay-{n}", amount=Decimal("44.98"), currency=currency),
            ),
            lambda_context,
        )
    deliver(
        analytics,
        answer(
            EventType.PAYMENT_REFUNDED,
            PaymentRefunded(orderId="o-3", paymentId="pay-3", amount=Decimal("44.98"), currency="SEK"),
            version=2,
        ),
        lambda_context,
    )
    fold_the_stream(lambda_context)
    figures = daily(orders.created().timestamp.date().isoformat())["byCurrency"]
    assert {code: (f["booked"], f["captured"], f["refunded"], f["revenue"]) for code, f in figures.items()} == {
        "EUR": ("44.98", "44.98", "0.00", "44.98"),
        "USD": ("44.98", "44.98", "0.00", "44.98"),
        "SEK": ("89.96", "89.96", "44.98", "44.98"),
    }


def answer(event_type, payload, version: int = 1):
    return new_event(
        event_type,
        aggregate_id=f"payment:{payload.orderId}",
        payload=payload,
        version=version,
        user_id="payments",
        correlation_id="corr-1",
    )


def test_an_event_the_store_does_not_hold_counts_nothing(analytics, lambda_context):
    from eventstore.store import NotInEventStore

    forged = orders.created(order_id="o-forged")
    with pytest.raises(NotInEventStore):
        deliver(analytics, forged, lambda_context, stored=False)
    assert aws.stream_records(aws.ANALYTICS_EVENTS) == []
    deliver(analytics, forged, lambda_context)  # the same event, once the store holds it: counted
    assert len(aws.stream_records(aws.ANALYTICS_EVENTS)) == 1


def test_a_batch_folded_again_adds_only_what_it_had_not(tables):
    from analytics.counters import DailyCounters

    counters = DailyCounters(aws.ANALYTICS, aws.ANALYTICS_EVENTS)
    for n in range(6):
        counters.record(orders.created(order_id=f"o-{n}"))
    records = aws.stream_records(aws.ANALYTICS_EVENTS)
    assert counters.fold(records[:4]).folded == 4
    again = counters.fold(records[:4])  # the same batch again
    assert (again.folded, again.already) == (0, 4)
    more = counters.fold(records)  # retried, with more behind it
    assert (more.folded, more.already) == (2, 4)
    assert daily(orders.created().timestamp.date().isoformat())["ordersPlaced"] == 6


def test_a_parked_batch_redriven_after_the_stream_moved_on_adds_exactly_what_it_had_not(tables):
    """The first batch fails every attempt and is parked; the stream moves on, and later batches
    fold. Its redrive (the same records, read back from the stream) adds them all; redriven again,
    nothing. A batch folded before its run died (a receipt, and the run then failed) adds nothing."""
    from analytics.counters import DailyCounters

    counters = DailyCounters(aws.ANALYTICS, aws.ANALYTICS_EVENTS)
    for n in range(9):
        counters.record(orders.created(order_id=f"o-{n}"))
    records = aws.stream_records(aws.ANALYTICS_EVENTS)
    parked, later, died_after = records[:3], records[3:6], records[6:]
    assert counters.fold(later).folded == 3
    assert counters.fold(died_after).folded == 3  # ...and its run failed after: retried, then parked
    day = orders.created().timestamp.date().isoformat()
    assert daily(day)["ordersPlaced"] == 6

    assert (counters.fold(parked).folded, counters.fold(died_after).folded) == (3, 0)  # the redrive
    assert (counters.fold(parked).folded, counters.fold(parked).already) == (0, 3)  # and again
    assert daily(day)["ordersPlaced"] == 9
    assert daily(day)["byCurrency"]["EUR"]["booked"] == f"{9 * Decimal('44.98'):.2f}"


def emf_records(output: str) -> list[dict]:
    import json

    return [record for record in map(json.loads, filter(None, output.splitlines())) if "_aws" in record]


def test_the_fold_publishes_each_event_once_stamped_with_its_day_and_money_by_currency(
    analytics, lambda_context, capsys
):
    events = [
        orders.created(order_id="o-1"),
        orders.created(order_id="o-2"),
        orders.created(order_id="o-3", currency="SEK"),
        completed("o-1"),
    ]
    deliver(analytics, events[0], lambda_context, times=2)
    for event in events[1:]:
        deliver(analytics, event, lambda_context)
    capsys.readouterr()
    assert fold_the_stream(lambda_context)["metrics"] == ["OrdersPlaced", "OrdersCompleted", "Booked:EUR", "Booked:SEK"]
    counts, euros, kronor = emf_records(capsys.readouterr().out)
    assert (counts["OrdersPlaced"], counts["OrdersCompleted"]) == ([3.0], [1.0]) and "Currency" not in counts
    assert (euros["Currency"], euros["Booked"], kronor["Currency"], kronor["Booked"]) == (
        "EUR",
        [89.96],
        "SEK",
        [44.98],
    )
    # stamped with the events' time (the day's latest), not the fold's
    assert counts["_aws"]["Timestamp"] == int(max(e.timestamp for e in events).timestamp() * 1000)
    # The stream again (a retried batch): the counters had it, so nothing is published twice.
    assert fold_the_stream(lambda_context)["metrics"] == []
    assert emf_records(capsys.readouterr().out) == []


def test_metrics_a_run_died_before_publishing_go_out_with_the_batchs_next_attempt(
    analytics, lambda_context, capsys, monkeypatch
):
    """The counters took the batch, and the run died before the metrics went out: the retry adds
    nothing to the counters and publishes what the first run added, once."""
    import analytics.fold as fold

    deliver(analytics, orders.created(order_id="o-1"), lambda_context)

    def died(_added):
        raise TimeoutError("the run was stopped")

    monkeypatch.setattr(fold, "publish_metrics", died)
    with pytest.raises(TimeoutError):
        fold_the_stream(lambda_context)
    monkeypatch.undo()
    capsys.readouterr()
    assert fold_the_stream(lambda_context) == {
        "folded": 0,
        "alreadyFolded": 1,
        "metrics": ["OrdersPlaced", "Booked:EUR"],
    }
    assert fold_the_stream(lambda_context)["metrics"] == []
    assert len(emf_records(capsys.readouterr().out)) == 2
    assert daily(orders.created().timestamp.date().isoformat())["ordersPlaced"] == 1


def test_markers_spread_over_the_lanes(tables):
    from analytics.counters import LANES, DailyCounters

    counters = DailyCounters(aws.ANALYTICS, aws.ANALYTICS_EVENTS)
    markers = 20 * LANES
    for n in range(markers):
        counters.record(orders.created(order_id=f"o-{n}"))
    lanes = Counter(r["dynamodb"]["NewImage"]["lane"]["S"] for r in aws.stream_records(aws.ANALYTICS_EVENTS))
    assert len(lanes) == LANES
    assert max(lanes.values()) < 3 * markers / LANES  # no lane takes a hot share


def test_money_adds_up_exactly(tables, lambda_context):
    from analytics.counters import DailyCounters

    counters = DailyCounters(aws.ANALYTICS, aws.ANALYTICS_EVENTS)
    for n in range(10):
        counters.record(orders.created(order_id=f"o-{n}"))  # 10 x 44.98, no binary drift
    fold_the_stream(lambda_context)
    assert daily(orders.created().timestamp.date().isoformat())["byCurrency"]["EUR"]["booked"] == "449.80"


def test_the_daily_api_answers_for_a_date_and_refuses_nonsense(tables, lambda_context, analytics):
    from analytics.api import handler
    from tests.support.api import call

    created = orders.created()
    deliver(analytics, created, lambda_context)
    fold_the_stream(lambda_context)
    day = created.timestamp.date().isoformat()
    response = call(handler, lambda_context, "GET", "/analytics/daily", query={"date": day})
    assert response.status == 200
    assert (response.body["date"], response.body["ordersPlaced"]) == (day, 1)
    assert call(handler, lambda_context, "GET", "/analytics/daily", query={"date": "1999-01-01"}).body["events"] == 0
    for bad in ({"date": "2026-13-45"}, {"date": "yesterday"}, None):
        refused = call(handler, lambda_context, "GET", "/analytics/daily", query=bad)
        assert refused.status == 400
        assert refused.body["errors"][0]["field"] == "date"


# ---- audit ---------------------------------------------------------------------------------


@pytest.fixture
def audit(tables):
    from audit.consumer import handler

    return handler


def test_the_audit_log_keeps_each_event_once_in_order(audit, lambda_context):
    from audit.log import AuditLog

    history = [orders.created(), orders.updated(), completed(version=3)]
    for event in reversed(history):  # arrival order does not matter; time does
        deliver(audit, event, lambda_context, times=2)
    chain = AuditLog(aws.AUDIT).chain("corr-1")
    assert [e["eventType"] for e in chain] == ["ORDER_CREATED", "ORDER_UPDATED", "ORDER_COMPLETED"]
    assert chain[2]["causationId"] == "cause-1"
    assert chain[0]["source"] == "orders.service"


def test_the_audit_api_returns_the_chain_with_causation(audit, lambda_context):
    from audit.api import handler
    from tests.support.api import call

    created = orders.created()
    effect = new_event(
        EventType.ORDER_COMPLETED,
        aggregate_id="order-1",
        payload=OrderCompleted(orderId="order-1"),
        version=2,
        user_id="saga",
        correlation_id="corr-1",
        causation_id=str(created.eventId),
    )
    deliver(audit, created, lambda_context)
    deliver(audit, effect, lambda_context)
    response = call(handler, lambda_context, "GET", "/audit/corr-1")
    assert response.status == 200
    assert response.body["causedBy"] == [{"from": str(created.eventId), "to": str(effect.eventId)}]
    assert call(handler, lambda_context, "GET", "/audit/unknown-corr").status == 404


# ---- every consumer ----------------------------------------------------------------------


def test_a_failed_attempt_leaves_no_record_so_the_retry_runs(audit, lambda_context, monkeypatch):
    from audit.log import AuditLog
    from platform_faults.switches import FaultInjected
    from platform_faults.wrapper import wrap

    event = orders.created()
    monkeypatch.setenv("FAULT_INJECTION_EVENT_TYPES", "ORDER_CREATED")
    with pytest.raises(FaultInjected):
        deliver(wrap(audit), event, lambda_context)
    monkeypatch.delenv("FAULT_INJECTION_EVENT_TYPES")
    deliver(audit, event, lambda_context)
    assert len(AuditLog(aws.AUDIT).chain("corr-1")) == 1


@pytest.mark.parametrize(
    "switch, value", [("FAULT_INJECTION_EVENT_TYPES", "ORDER_CREATED"), ("FAULT_INJECTION_RATE", "1")]
)
def test_on_prod_no_switch_makes_a_function_fail(audit, lambda_context, monkeypatch, switch, value):
    """Set by hand on a prod function (the tools refuse to), a switch is read as off."""
    from audit.log import AuditLog
    from platform_faults.switches import FaultInjected
    from platform_faults.wrapper import wrap

    monkeypatch.setenv(switch, value)
    with pytest.raises(FaultInjected):  # it fails on dev: the switch works
        deliver(wrap(audit), orders.created(order_id="order-dev"), lambda_context)
    monkeypatch.setenv("STAGE", "prod")
    deliver(wrap(audit), orders.created(order_id="order-prod"), lambda_context)  # no fault raised
    assert "order-prod" in [entry["aggregateId"] for entry in AuditLog(aws.AUDIT).chain("corr-1")]


def test_a_malformed_event_fails_before_any_effect(audit, lambda_context):
    from pydantic import ValidationError

    event = orders.bus_event(orders.created())
    event["detail"]["payload"]["items"] = []
    with pytest.raises(ValidationError):
        audit(event, lambda_context)
    assert aws.item_count(aws.AUDIT) == aws.item_count(aws.IDEMPOTENCY) == 0


@pytest.mark.parametrize(
    "field, value, reason",
    [
        (
            "detail-type",
            "ORDER_COMPLETED",
            "^detail-type 'ORDER_COMPLETED' does not match the event's eventType 'ORDER_CREATED'$",
        ),
        ("source", "users.service", "^source 'users.service' does not publish ORDER_CREATED: 'orders.service' does$"),
    ],
)
def test_an_entry_whose_routing_contradicts_its_event_is_refused(audit, lambda_context, field, value, reason):
    from common.consumer import Misrouted

    event = orders.bus_event(orders.created()) | {field: value}
    with pytest.raises(Misrouted, match=reason):
        audit(event, lambda_context)
    assert aws.item_count(aws.AUDIT) == aws.item_count(aws.IDEMPOTENCY) == 0


def test_a_crash_after_the_email_went_out_does_not_send_it_again_on_the_retry(email, lambda_context, monkeypatch):
    from platform_faults.switches import FaultInjected
    from platform_faults.wrapper import wrap

    event = registered()
    monkeypatch.setenv("FAULT_INJECTION_RATE", "1")
    monkeypatch.setattr("random.choice", lambda points: points[1])  # after the work's effects
    with pytest.raises(FaultInjected, match="after the work"):
        deliver(wrap(email), event, lambda_context)
    assert sent_record(event)["status"] == "SENT"
    monkeypatch.delenv("FAULT_INJECTION_RATE")
    [result] = deliver(email, event, lambda_context)
    assert result["outcome"] == "sent"
    assert len(sent_emails()) == 1


def sent_record(event) -> dict:
    import boto3

    return boto3.resource("dynamodb").Table(aws.EMAIL_LOG).get_item(Key={"id": f"sent#{event.eventId}"})["Item"]


def test_a_send_ses_refuses_gives_the_claim_back_so_the_retry_sends(email, lambda_context, monkeypatch):
    from botocore.exceptions import ClientError

    from notifications.handler import mailer
    from notifications.mailer import SendFailed

    event = registered()
    ses = mailer()._ses
    real_send = ses.send_email

    def throttled(**_):
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendEmail")

    monkeypatch.setattr(ses, "send_email", throttled)
    with pytest.raises(SendFailed, match=r"Throttling$"):
        deliver(email, event, lambda_context)
    monkeypatch.setattr(ses, "send_email", real_send)
    [result] = deliver(email, event, lambda_context)
    assert result["outcome"] == "sent"
    assert len(sent_emails()) == 1


def test_the_sent_mark_throttled_past_the_sdks_retries_still_lands(email, lambda_context, monkeypatch):
    """The email is out; its SENT mark meets throttling twice (the SDK's retries spent each time):
    written on the third try, so the event's retry finds it SENT and sends nothing (a claim left
    SENDING would park every retry until it lapsed, and a run after that would send again)."""
    from botocore.exceptions import ClientError

    from notifications import mailer as module
    from notifications.handler import mailer

    event = registered()
    table = mailer()._table
    real_update = table.update_item
    refusals: list[dict[str, Any]] = []

    def throttled_twice(**kwargs):
        if len(refusals) < 2:
            refusals.append(kwargs["Key"])
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem"
            )
        return real_update(**kwargs)

    monkeypatch.setattr(table, "update_item", throttled_twice)
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    [result] = deliver(email, event, lambda_context)
    assert result["outcome"] == "sent" and len(refusals) == 2
    assert sent_record(event)["status"] == "SENT"
    [again] = deliver(email, event, lambda_context)
    assert again["outcome"] == "sent" and len(sent_emails()) == 1


def test_a_delivery_while_another_run_holds_the_claim_fails_so_it_is_retried(email, lambda_context, monkeypatch):
    import time

    import boto3

    from notifications.mailer import CLAIM_SECONDS, EmailInProgress

    event = registered()
    deliver(email, event, lambda_context)
    table = boto3.resource("dynamodb").Table(aws.EMAIL_LOG)
    # as if a run had claimed it and was still sending
    table.update_item(
        Key={"id": f"sent#{event.eventId}"},
        UpdateExpression="SET #s = :s, claimedUntil = :u",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "SENDING", ":u": int(time.time()) + CLAIM_SECONDS},
    )
    with pytest.raises(EmailInProgress):
        deliver(email, event, lambda_context)
    # the claim of a run that died expires: the next delivery sends
    monkeypatch.setattr(time, "time", lambda: 10**10)
    [result] = deliver(email, event, lambda_context)
    assert result["outcome"] == "sent"
    assert len(sent_emails()) == 2


def test_a_skipped_email_is_recorded_with_its_reason(email, lambda_context):
    event = orders.created(customer_id="never-registered")
    deliver(email, event, lambda_context, times=2)
    record = sent_record(event)
    assert (record["status"], record["reason"]) == ("SKIPPED", "no email address known for never-registered")


def test_a_transient_fault_before_the_work_leaves_nothing_behind(analytics, lambda_context, monkeypatch):
    from platform_faults.switches import FaultInjected
    from platform_faults.wrapper import wrap

    monkeypatch.setenv("FAULT_INJECTION_RATE", "1")
    monkeypatch.setattr("random.choice", lambda points: points[0])
    with pytest.raises(FaultInjected, match="before the work"):
        deliver(wrap(analytics), orders.created(), lambda_context)
    assert aws.item_count(aws.ANALYTICS) == aws.item_count(aws.IDEMPOTENCY) == 0


# ---- which consumers keep an idempotency record ----------------------------------------------


def idempotency_records() -> list[dict]:
    import boto3

    return boto3.client("dynamodb").scan(TableName=aws.IDEMPOTENCY)["Items"]


@pytest.mark.parametrize(
    "module", ["projection.handler", "audit.consumer", "analytics.consumer", "notifications.handler"]
)
def test_no_consumer_writes_an_idempotency_record(tables, lambda_context, module):
    import importlib

    handler = importlib.import_module(module).handler
    if module == "notifications.handler":
        deliver(handler, registered(), lambda_context)
        sent_emails().clear()
    first, second = deliver(handler, orders.created(customer_id="cust-1"), lambda_context, times=2)
    assert first["outcome"] in ("applied", "recorded", "counted", "sent")
    assert second["outcome"] in ("already-applied", "already-recorded", "already-counted", "sent")
    assert idempotency_records() == []


def test_each_event_is_one_log_line_with_its_outcome_and_nothing_every_line_repeats(audit, lambda_context, monkeypatch):
    import io
    import json

    from common.observability import logger

    written = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", written)  # where the function's stdout would be
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-6b0be63a-93496ecddc27bc8175ea493b;Parent=53995c3f42cd8ad8;Sampled=1")
    event = orders.created()
    deliver(audit, event, lambda_context)
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    [line] = [entry for entry in lines if entry.get("message") == "event consumed"]
    assert (line["level"], line["eventId"], line["eventType"], line["aggregateId"], line["outcome"]) == (
        "INFO",
        str(event.eventId),
        "ORDER_CREATED",
        "order-1",
        "recorded",
    )
    assert line["correlation_id"] == "corr-1" and line["function_request_id"]
    assert not {
        "function_arn",
        "function_name",
        "function_memory_size",
        "cold_start",
        "timestamp",
        "result",
        "service",
        "xray_trace_id",
    } & set(line)


def test_at_debug_each_event_adds_one_line_with_its_whole_result(audit, lambda_context, monkeypatch):
    import io
    import json

    from common.observability import logger

    written = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", written)
    level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        event = orders.created()
        [result] = deliver(audit, event, lambda_context)
    finally:
        logger.setLevel(level)
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    [line] = [entry for entry in lines if entry.get("message") == "event result"]
    assert (line["level"], line["eventId"], line["result"]) == ("DEBUG", str(event.eventId), result)


def test_each_failed_attempt_is_one_error_line_naming_its_event(audit, lambda_context, monkeypatch):
    import io
    import json

    from common.observability import logger

    written = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", written)
    event = orders.created()
    from audit.consumer import Settings, audit_log

    monkeypatch.setenv(Settings.variable("audit_table_name"), "no-such-table")  # every write fails

    from botocore.exceptions import ClientError

    audit_log.cache_clear()
    for _ in range(2):
        with pytest.raises(ClientError):  # the table it writes to is not there
            deliver(audit, event, lambda_context)
    lines = [json.loads(line) for line in written.getvalue().splitlines()]
    failed = [line for line in lines if line.get("message") == "event failed"]
    assert [(line["level"], line["eventId"], line["eventType"]) for line in failed] == [
        ("ERROR", str(event.eventId), "ORDER_CREATED")
    ] * 2
    assert "ResourceNotFoundException" in failed[0]["exception"] and not any(
        line.get("message") == "event consumed" for line in lines
    )
    audit_log.cache_clear()


def test_a_consumer_runs_its_work_on_each_event_and_answers_with_its_result(lambda_context, monkeypatch):
    from common.consumer import EventConsumer

    seen = []

    def work(envelope: Envelope) -> dict[str, Any]:
        seen.append(envelope.eventId)
        return {"outcome": "done"}

    consumer = EventConsumer(work)
    event = orders.created()
    assert consumer.handler(orders.bus_event(event), lambda_context) == {"outcome": "done"}
    assert seen == [event.eventId]


@pytest.mark.parametrize(
    "detail, logged_id", [("{not json", None), ({"eventType": "ORDER_CREATED"}, None), ({"eventId": "e-1"}, "e-1")]
)
def test_an_event_too_broken_to_parse_is_logged_by_what_id_it_has(lambda_context, monkeypatch, detail, logged_id):
    import io
    import json

    from common.consumer import EventConsumer
    from common.observability import logger

    written = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", written)
    consumer = EventConsumer(lambda envelope: pytest.fail("the work ran on a broken event"))
    with pytest.raises(ValueError):  # the parse error itself, not one raised while logging it
        consumer.handler({**orders.bus_event(orders.created()), "detail": detail}, lambda_context)
    [line] = [json.loads(entry) for entry in written.getvalue().splitlines() if '"event failed"' in entry]
    assert line.get("eventId") == logged_id  # (a None is left out of the line)


def test_a_seeded_fault_falls_on_the_same_attempts_of_the_same_events(monkeypatch):
    from platform_faults import switches as faults

    def decisions(seed: str, service: str = "Audit") -> list:
        monkeypatch.setattr(faults, "_seen", {})  # a fresh process
        monkeypatch.setenv("FAULT_INJECTION_SEED", seed)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service)
        return [faults.random_failure_point(f"order-{n}:ORDER_CREATED:1") for n in range(40) for _attempt in range(3)]

    monkeypatch.setenv("FAULT_INJECTION_RATE", "0.3")
    first = decisions("7")
    assert decisions("7") == first  # replayed
    assert {faults.BEFORE, faults.AFTER, None} == set(first)  # both points, and attempts that pass
    assert decisions("8") != first and decisions("7", service="Analytics") != first  # per seed, per function
    retries = [first[n * 3 : n * 3 + 3] for n in range(40)]
    assert any(len(set(attempts)) > 1 for attempts in retries)  # a retry is decided again, not failed for good
    monkeypatch.delenv("FAULT_INJECTION_SEED")
    monkeypatch.setattr(faults, "_seen", {})
    unseeded = [faults.random_failure_point("order-1:ORDER_CREATED:1") for _ in range(200)]
    assert 20 < unseeded.count(None) < 180 and faults._seen == {}  # at random, nothing remembered


def test_a_seeded_consumer_faults_the_same_events_in_a_replay(lambda_context, monkeypatch):
    from common.consumer import EventConsumer
    from platform_faults import switches as faults
    from platform_faults.switches import FaultInjected
    from platform_faults.wrapper import wrap

    consumer = EventConsumer(lambda envelope: {"outcome": "done"})
    events = [orders.created(order_id=f"order-{n}") for n in range(30)]
    monkeypatch.setenv("FAULT_INJECTION_RATE", "0.5")
    monkeypatch.setenv("FAULT_INJECTION_SEED", "3")

    def faulted() -> list[str]:
        monkeypatch.setattr(faults, "_seen", {})  # a new process
        failed = []
        for event in events:
            try:
                wrap(consumer.handler)(orders.bus_event(event), lambda_context)
            except FaultInjected:
                failed.append(event.aggregateId)
        return failed

    first = faulted()
    assert 0 < len(first) < len(events)
    assert faulted() == first  # the same events, though each has a new eventId when made again
    events = [orders.created(order_id=f"order-{n}") for n in range(30)]
    assert faulted() == first


def test_metrics_are_published_once_when_marking_their_receipt_fails(analytics, lambda_context, capsys, monkeypatch):
    """The metrics went out and their receipt could not be marked (throttled past the SDK's
    retries): the batch is done, not retried, so they are not published again."""
    from analytics.counters import DailyCounters

    deliver(analytics, orders.created(order_id="o-1"), lambda_context)
    capsys.readouterr()

    def throttled(self, receipts):
        raise RuntimeError("ProvisionedThroughputExceededException")

    monkeypatch.setattr(DailyCounters, "published", throttled)
    assert fold_the_stream(lambda_context)["metrics"] == ["OrdersPlaced", "Booked:EUR"]
    monkeypatch.undo()
    booked = [r["Booked"] for r in emf_records(capsys.readouterr().out) if "Booked" in r]
    assert booked == [[44.98]]


def test_money_counted_before_currencies_stays_in_the_books(tables, lambda_context):
    """A marker written before money was kept by currency (every currency added together) still
    shows, apart, once folded: none of it disappears."""
    import boto3

    from analytics.counters import lane_of

    day = "2024-05-01"
    boto3.client("dynamodb").put_item(
        TableName=aws.ANALYTICS_EVENTS,
        Item={
            "lane": {"S": lane_of("e-1")},
            "eventId": {"S": "e-1"},
            "day": {"S": day},
            "deltas": {
                "M": {
                    "events": {"N": "1"},
                    "count_ORDER_CREATED": {"N": "1"},
                    "ordersPlaced": {"N": "1"},
                    "bookedRevenue": {"N": "44.98"},
                }
            },
        },
    )
    fold_the_stream(lambda_context)
    summary = daily(day)
    assert (summary["ordersPlaced"], summary["byCurrency"]) == (1, {})
    assert summary["beforeCurrencies"] == {"bookedRevenue": "44.98"}


def test_a_consumer_that_checks_the_store_acts_only_on_the_stores_copy(store, lambda_context):
    """EventConsumer(process, held_by=...) itself, built here rather than at a handler module's
    import: an event the store does not hold reaches `process` never; once stored, it does."""
    from common.consumer import EventConsumer
    from eventstore.store import NotInEventStore

    seen: list[Envelope] = []

    def process(event: Envelope) -> dict[str, Any]:
        seen.append(event)
        return {"outcome": "seen"}

    consumer = EventConsumer(process, held_by=lambda: store)
    event = orders.created(order_id="order-forged")
    with pytest.raises(NotInEventStore):
        consumer.handle(orders.bus_event(event), lambda_context)
    assert seen == []
    store.append([event])
    assert consumer.handle(orders.bus_event(event), lambda_context) == {"outcome": "seen"}
    assert seen == [event]
