"""Exactly once at the card network, for ever: a charge or refund request reaches the network at
most once, however often it is delivered, redriven or replayed, a year later too. The network
(simulated as Stripe behaves) remembers an idempotency key for 24 hours and then forgets it, so
a request that comes back unanswered is called again only inside that window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest

from catalog import EventType, new_event
from catalog.payloads import PaymentRefundRequested, PaymentRequested
from tests.support import aws

START = datetime.now(UTC).replace(microsecond=0)  # the requests are made now: the network's clock starts there
AMOUNT = Decimal("20.00")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def payments(store, clock):
    from payments.handler import provider

    built = provider()  # as the function builds it: the store's and the calls' tables, its settings
    built.network.clock = clock
    return built


def stored(store, event_type, payload, version):
    """A command of the saga's, as the store holds it (Payments acts on nothing else)."""
    event = new_event(
        event_type,
        aggregate_id="saga:order-1",
        payload=payload,
        version=version,
        user_id="order-saga",
        correlation_id="corr-1",
    )
    store.append([event])
    return event


@pytest.fixture
def charge(store):
    return stored(
        store,
        EventType.PAYMENT_REQUESTED,
        PaymentRequested(currency="EUR", orderId="order-1", customerId="c", amount=AMOUNT),
        1,
    )


def refund_of(store, payments):
    payment_id = store.load("payment:order-1")[0].payload.paymentId
    return stored(
        store,
        EventType.PAYMENT_REFUND_REQUESTED,
        PaymentRefundRequested(
            currency="EUR", orderId="order-1", paymentId=payment_id, amount=AMOUNT, reason="out of stock"
        ),
        2,
    )


def calls_recorded() -> list[dict]:
    return boto3.resource("dynamodb").Table(aws.PAYMENT_CALLS).scan(ConsistentRead=True)["Items"]


def test_an_answered_request_never_reaches_the_network_again_a_year_later_too(payments, store, charge, clock):
    assert payments.handle(charge)["outcome"] == "PAYMENT_PROCESSED"
    refund = refund_of(store, payments)
    assert payments.handle(refund)["outcome"] == "PAYMENT_REFUNDED"
    assert payments.network.requests == ["charge:order-1", f"refund:{refund.payload.paymentId}"]
    for later in (timedelta(0), timedelta(minutes=5), timedelta(days=2), timedelta(days=365)):
        clock.now = START + later  # redelivered, redriven, replayed from the archive
        assert payments.handle(charge)["outcome"] == "already-answered"
        assert payments.handle(refund)["outcome"] == "nothing-to-refund"
    assert len(payments.network.requests) == 2  # not one call more
    assert payments.network.moved == {"charge:order-1": AMOUNT, f"refund:{refund.payload.paymentId}": -AMOUNT}


def test_each_call_is_recorded_before_it_is_made(payments, store, charge, monkeypatch):
    """A run that cannot record its call does not make it."""
    from botocore.exceptions import ClientError

    def unavailable(**_):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "try again"}}, "PutItem")

    monkeypatch.setattr(payments._calls._client, "put_item", unavailable)
    with pytest.raises(ClientError):
        payments.handle(charge)
    assert payments.network.requests == [] and store.load("payment:order-1") == []
    monkeypatch.undo()
    assert payments.handle(charge)["outcome"] == "PAYMENT_PROCESSED"
    [call] = calls_recorded()
    assert (call["key"], call["requestEventId"], call["calledAt"]) == (
        "charge:order-1",
        str(charge.eventId),
        START.isoformat(),
    )


def died_after_calling(payments, monkeypatch, request):
    """The network moved the money, and the run died before it wrote the answer."""
    from eventstore.answers import OrderAnswers

    def crash(*_, **__):
        raise TimeoutError("the function timed out after the network's answer")

    with monkeypatch.context() as patched:
        patched.setattr(OrderAnswers, "record", crash)
        patched.setattr(OrderAnswers, "reverse", crash)
        with pytest.raises(TimeoutError):
            payments.handle(request)


def test_a_request_unanswered_inside_the_networks_window_is_called_again_and_moves_money_once(
    payments, store, charge, clock, monkeypatch
):
    died_after_calling(payments, monkeypatch, charge)
    clock.now = START + timedelta(hours=22)  # the event's retry, or a redrive the same day
    assert payments.handle(charge)["outcome"] == "PAYMENT_PROCESSED"
    assert payments.network.requests == ["charge:order-1", "charge:order-1"]  # the same key: the same answer
    assert payments.network.moved == {"charge:order-1": AMOUNT}
    assert store.load("payment:order-1")[0].payload.amount == AMOUNT


@pytest.mark.parametrize("kind", ["charge", "refund"])
def test_a_request_unanswered_past_the_networks_window_is_parked_not_called(
    payments, store, charge, clock, monkeypatch, kind
):
    """A redrive a week later: the network has forgotten the key, a call would move the money
    again. Not called: parked with the reason, for a person to reconcile."""
    from payments.provider import CallNotAnswered

    request = charge
    if kind == "refund":
        payments.handle(charge)
        request = refund_of(store, payments)
    died_after_calling(payments, monkeypatch, request)
    calls = len(payments.network.requests)
    clock.now = START + timedelta(days=7)
    at = re.escape(START.isoformat())
    with pytest.raises(
        CallNotAnswered, match=rf"called with {kind}:\S+ at {at} for event {request.eventId} and no answer"
    ):
        payments.handle(request)
    assert len(payments.network.requests) == calls  # not called
    assert sum(payments.network.moved.values()) == (AMOUNT if kind == "charge" else Decimal("0.00"))


def test_the_simulated_network_forgets_a_key_after_its_window(payments):
    """What the record of calls guards against: past 24 hours the same key charges again."""
    network = payments.network
    first = network.charge("charge:order-9", AMOUNT, "EUR")
    network.clock = lambda: START + timedelta(hours=23)
    assert network.charge("charge:order-9", AMOUNT, "EUR") == first and network.moved == {"charge:order-9": AMOUNT}
    network.clock = lambda: START + timedelta(hours=25)
    network.charge("charge:order-9", AMOUNT, "EUR")
    assert network.moved == {"charge:order-9": AMOUNT, "charge:order-9#2": AMOUNT}


def test_a_window_shortened_to_a_minute_still_charges_and_repeats_only_inside_it(store, charge, clock, monkeypatch):
    """A setting a test can shorten: a minute, whose margin is a 24th of it (an hour's margin would
    leave no window at all, and refuse every charge)."""
    from common.settings import forget_read_settings
    from payments.handler import Settings, provider
    from payments.provider import CallNotAnswered

    monkeypatch.setenv(Settings.variable("card_network_key_seconds"), "60")
    forget_read_settings()
    provider.cache_clear()
    payments = provider()
    payments.network.clock = clock
    assert payments.network.key_seconds == 60
    died_after_calling(payments, monkeypatch, charge)
    clock.now = START + timedelta(seconds=50)  # inside the minute, less its margin: called again
    assert payments.handle(charge)["outcome"] == "PAYMENT_PROCESSED"
    assert payments.network.moved == {"charge:order-1": AMOUNT}
    other = stored(
        store,
        EventType.PAYMENT_REQUESTED,
        PaymentRequested(currency="EUR", orderId="order-2", customerId="c", amount=AMOUNT),
        2,
    )
    died_after_calling(payments, monkeypatch, other)
    clock.now = START + timedelta(seconds=50 + 58)
    with pytest.raises(CallNotAnswered):
        payments.handle(other)


def test_a_request_older_than_the_window_with_no_call_recorded_is_parked_not_called(payments, store, clock):
    """Its call may have been made where none was recorded (before calls were recorded), and its
    order timed out long since: not called, parked. A recent one is called."""
    from payments.provider import CallNotAnswered

    old = new_event(
        EventType.PAYMENT_REQUESTED,
        aggregate_id="saga:order-1",
        version=1,
        user_id="order-saga",
        correlation_id="corr-1",
        payload=PaymentRequested(currency="EUR", orderId="order-1", customerId="c", amount=AMOUNT),
    )
    old = old.model_copy(update={"timestamp": START - timedelta(days=8)})
    store.append([old])
    with pytest.raises(CallNotAnswered, match=f"request {old.eventId} \\(charge:order-1\\) of .* is older than"):
        payments.handle(old)
    assert payments.network.requests == [] and calls_recorded() == []
    recent = stored(
        store,
        EventType.PAYMENT_REQUESTED,
        PaymentRequested(currency="EUR", orderId="order-2", customerId="c", amount=AMOUNT),
        2,
    )
    assert payments.handle(recent)["outcome"] == "PAYMENT_PROCESSED"


def test_the_networks_memory_is_one_for_every_container(payments, store, charge, clock, monkeypatch):
    """Lambda retries in whichever container is free: one that never saw the key asks the same
    network, which answers as before (its memory is its own table, not a process's)."""
    from payments.handler import provider

    died_after_calling(payments, monkeypatch, charge)
    provider.cache_clear()  # the retry, minutes later, in a fresh container
    fresh = provider()
    fresh.network.clock = clock
    clock.now = START + timedelta(minutes=3)
    assert fresh.handle(charge)["outcome"] == "PAYMENT_PROCESSED"
    assert fresh.network.requests == ["charge:order-1"] and fresh.network.moved == {"charge:order-1": AMOUNT}
    assert store.load("payment:order-1")[0].payload.paymentId == payments.network.charge(
        "charge:order-1", AMOUNT, "EUR"
    )
