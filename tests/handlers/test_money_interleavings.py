"""The books, through any interleaving (the invariant in docs/DECISIONS.md): the real handlers on
moto (OrderService, SagaCoordinator, PaymentProvider, Reservations, Analytics and its fold),
driven by hypothesis. Two orders, in a currency drawn for the run, race for one product's stock;
the customer changes and cancels the first at any point (and an amount over the card's limit is
declined); any stored event is delivered to the consumers its rule routes it to, in any order and
any number of times; the sweep times orders out; a saga run meets a customer's action between its
read and its write; Payments dies after the card network answered; the clock jumps past the
network's 24 hours and old requests come again. Then everything is drained, and:

  completed: captured - refunded = the final total, and its reservation = the final lines, shipped;
  cancelled: captured - refunded = 0, and nothing reserved;
  the stock is never negative, and on hand = available + reserved + shipped;
  no command is asked twice, no money moves twice at the network, and a request answered is
    never sent to the network again (delivered again a day later: 0 calls);
  analytics, in the run's currency: revenue = captured - refunded, and net bookings = the
    completed orders' totals.

Six interleavings in `make unit`, two in `make test`, sixty in `make properties`
(tests/support/properties.py)."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from datetime import timedelta
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import Caller, EventType
from catalog.payloads import OrderItem
from tests.support import aws
from tests.support.properties import examples

COUNTER = itertools.count()

step = st.one_of(
    st.tuples(st.just("update"), st.integers(1, 4), st.sampled_from(["1.00", "300.00"])),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("deliver"), st.integers(0, 80)),
    st.tuples(st.just("sweep"), st.integers(0, 1)),
    st.tuples(st.just("race"), st.sampled_from(["update", "cancel"]), st.integers(0, 80)),
    st.tuples(st.just("crash"), st.integers(0, 80)),
    st.tuples(st.just("a day later"), st.integers(0, 80)),
)


@pytest.fixture
def world(store):
    from inventory.reservations import Reservations
    from orders.service import OrderService
    from payments.handler import provider
    from saga.coordinator import SagaCoordinator

    return OrderService(store), SagaCoordinator(store), provider(), Reservations(store, aws.INVENTORY)


def streams(order_id):
    return [order_id, f"saga:{order_id}", f"payment:{order_id}", f"reservation:{order_id}"]


@settings(
    max_examples=examples(6),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stock=st.integers(0, 6), currency=st.sampled_from(["EUR", "SEK"]), steps=st.lists(step, max_size=16))
def test_every_interleaving_keeps_the_books(world, store, stock, currency, steps, monkeypatch):
    from analytics import consumer as analytics
    from analytics.counters import DailyCounters
    from eventstore.answers import OrderAnswers
    from eventstore.store import ConcurrencyError
    from infra.consumers import consumers_of
    from inventory.stock import Stock
    from orders.aggregate import InvalidTransition
    from saga.coordinator import SagaConflict

    orders, saga, payments, inventory = world
    n = next(COUNTER)
    sku, order_id, rival = f"SKU-{n}", str(uuid.uuid4()), str(uuid.uuid4())
    Stock(store, aws.INVENTORY).set(sku, stock, caller=Caller("ops", "s"))
    who = Caller("cust", "corr")
    for placed in (order_id, rival):  # two orders for the one product: a stock race
        orders.place(
            customer_id="cust",
            items=[OrderItem(productId=sku, quantity=1, price=Decimal("10.00"))],
            currency=currency,
            caller=who,
            order_id=placed,
        )
    from payments.provider import utc_now as now

    network = payments.network  # one for every example of the run: its clock is set afresh
    network.clock = now
    # the analytics tables too: this example's figures are what its own events move
    counters = DailyCounters(aws.ANALYTICS, aws.ANALYTICS_EVENTS)
    folded_before = len(aws.stream_records(aws.ANALYTICS_EVENTS))
    today = now().date().isoformat()
    books_before = {today: counters.day(today)["byCurrency"].get(currency, {})}
    log = []

    def customer(kind, quantity=2, price="1.00"):
        try:
            if kind == "update":
                v = orders.load(order_id).version
                orders.update_items(
                    order_id,
                    items=[OrderItem(productId=sku, quantity=quantity, price=Decimal(price))],
                    expected_version=v,
                    caller=who,
                )
            else:
                orders.cancel(order_id, reason="changed my mind", expected_version=None, caller=who)
            log.append(kind)
        except (InvalidTransition, ConcurrencyError):
            log.append(f"{kind} refused")

    def all_events():
        return [e for o in (order_id, rival) for s in streams(o) for e in store.load(s)]

    def deliver(event):
        """To each consumer of the money its rule routes the event to (analytics counts it too)."""
        for consumer in consumers_of(event.eventType):
            if consumer == "OrderSaga":
                with contextlib.suppress(SagaConflict):
                    saga.handle(event)
            elif consumer == "Payments":
                payments.handle(event)
            elif consumer == "InventoryReservations":
                inventory.handle(event)
            elif consumer == "Analytics":
                analytics.count(event)

    for s in steps:
        kind = s[0]
        if kind == "update":
            customer("update", s[1], s[2])
        elif kind == "cancel":
            customer("cancel")
        elif kind == "deliver":
            events = all_events()
            deliver(events[s[1] % len(events)])
            log.append(f"deliver {events[s[1] % len(events)].eventType}")
        elif kind == "sweep":
            saga.time_out((order_id, rival)[s[1]])
            log.append("sweep")
        elif kind == "race":
            real = saga.facts
            done: list[int] = []

            def facts_then(oid, real=real, done=done, what=s[1]):
                found = real(oid)
                if not done:
                    done.append(1)
                    customer(what)
                return found

            monkeypatch.setattr(saga, "facts", facts_then)
            events = [e for e in all_events() if e.aggregateId in (order_id, f"payment:{order_id}")]
            with contextlib.suppress(SagaConflict):
                saga.handle(events[s[2] % len(events)])
            monkeypatch.undo()
            log.append(f"race {s[1]}")
        elif kind == "crash":
            events = [
                e for e in all_events() if e.aggregateId.startswith("saga:") and e.eventType.startswith("PAYMENT")
            ]
            if events:

                def boom(*a, **k):
                    raise TimeoutError("died after the network answered")

                with monkeypatch.context() as p:
                    p.setattr(OrderAnswers, "record", boom)
                    p.setattr(OrderAnswers, "reverse", boom)
                    with contextlib.suppress(TimeoutError):
                        payments.handle(events[s[1] % len(events)])
                log.append("crash")
        elif kind == "a day later":  # an answered request again, once the network has forgotten its key
            answered = [
                e
                for e in all_events()
                if e.aggregateId.startswith("saga:")
                and e.eventType in (EventType.PAYMENT_REQUESTED, EventType.PAYMENT_REFUND_REQUESTED)
                and len(store.load(e.aggregateId.replace("saga:", "payment:")))
                >= (1 if e.eventType == EventType.PAYMENT_REQUESTED else 2)
            ]
            if answered:
                calls = len(network.requests)
                network.clock = lambda: now() + timedelta(hours=25)
                payments.handle(answered[s[1] % len(answered)])
                network.clock = now
                assert len(network.requests) == calls, f"{log}: an answered request reached the network a day later"
                log.append("a day later")

    def drain():
        """Every stored event delivered again until nothing moves, with a sweep each round."""
        for _ in range(12):
            before = len(all_events())
            for e in all_events():
                deliver(e)
            saga.time_out(order_id)
            saga.time_out(rival)
            if len(all_events()) == before:
                return

    drain()
    calls = len(network.requests)
    network.clock = lambda: now() + timedelta(days=400)  # a replay a year later: every request again
    for e in all_events():
        deliver(e)
    assert len(network.requests) == calls, f"{log}: answered requests reached the network again"

    item = boto3.client("dynamodb").get_item(TableName=aws.INVENTORY, Key={"productId": {"S": sku}})["Item"]
    reserved, available = int(item["reserved"]["N"]), int(item["available"]["N"])
    shipped = sum(
        line.quantity for e in all_events() if e.eventType == EventType.INVENTORY_SHIPPED for line in e.payload.lines
    )
    assert available >= 0 and available + reserved + shipped == stock, f"{log}: stock {available}+{reserved}+{shipped}"
    kept_total, completed_total = Decimal(0), Decimal(0)
    for placed in (order_id, rival):
        order = orders.load(placed)
        payment = store.load(f"payment:{placed}")
        kept = sum((e.payload.amount for e in payment if e.eventType == EventType.PAYMENT_PROCESSED), Decimal(0))
        kept -= sum((e.payload.amount for e in payment if e.eventType == EventType.PAYMENT_REFUNDED), Decimal(0))
        held: dict[str, int] = {}
        for answer in store.load(f"reservation:{placed}"):
            sign = {EventType.INVENTORY_UPDATED: 1, EventType.INVENTORY_RELEASED: -1}.get(answer.eventType, 0)
            for line in answer.payload.lines if sign else ():
                held[line.productId] = held.get(line.productId, 0) + sign * line.quantity
        commands = [e.eventType for e in store.load(f"saga:{placed}")]
        ctx = f"{log} -> {order.status.value} kept={kept} held={held} commands={commands}"
        assert len(commands) == len(set(commands)), ctx
        assert all(e.payload.currency == currency for e in payment if hasattr(e.payload, "currency")), ctx
        assert order.status.value in ("COMPLETED", "CANCELLED"), ctx
        if order.status.value == "COMPLETED":
            assert kept == order.totalAmount and held == {sku: sum(i.quantity for i in order.items)}, ctx
            assert [e.eventType for e in store.load(f"reservation:{placed}")][-1] == EventType.INVENTORY_SHIPPED, ctx
            completed_total += order.totalAmount
        else:
            assert kept == 0 and not any(held.values()), ctx
        kept_total += kept
    assert not [k for k in network.moved if "#" in k and (order_id in k or rival in k)], f"{log}: money moved twice"

    # the books, as analytics folds them: in the run's currency alone
    counters.fold(aws.stream_records(aws.ANALYTICS_EVENTS)[folded_before:])
    moved: dict[str, Decimal] = {}
    for day in {e.timestamp.date().isoformat() for e in all_events()}:
        figures = counters.day(day)["byCurrency"]
        assert set(figures) <= {"EUR", "SEK"}, figures
        for name in ("revenue", "netBooked"):
            was = Decimal(books_before.get(day, {}).get(name, "0"))
            moved[name] = moved.get(name, Decimal(0)) + Decimal(figures.get(currency, {}).get(name, "0")) - was
    assert moved["revenue"] == kept_total == completed_total == moved["netBooked"], f"{log}: {moved}, kept {kept_total}"
