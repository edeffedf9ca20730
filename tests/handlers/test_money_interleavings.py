"""The books of one order, through any interleaving (the invariant in docs/DECISIONS.md): the real handlers on
moto (OrderService, SagaCoordinator, PaymentProvider, Reservations), driven by hypothesis with
the customer's changes and cancels, deliveries of any stored event in any order and any number of
times, sweep timeouts, a saga run with a customer's action landing between its read and its
write, and Payments dying after the card network answered. Then everything is drained, and:

  completed: captured - refunded = the final total, and reserved = the final lines;
  cancelled: captured - refunded = 0, and reserved = 0;
  the stock is never negative, no command is asked twice, no money moves twice at the network.

MONEY_EXAMPLES sets how many interleavings (a few in make test; `make money` runs many)."""

from __future__ import annotations

import itertools
import os
import uuid
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import Caller
from catalog.payloads import OrderItem
from tests.support import aws

COUNTER = itertools.count()

step = st.one_of(
    st.tuples(st.just("update"), st.integers(1, 4), st.sampled_from(["1.00", "300.00"])),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("deliver"), st.integers(0, 50)),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("race"), st.sampled_from(["update", "cancel"]), st.integers(0, 50)),
    st.tuples(st.just("crash"), st.integers(0, 50)),
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


@settings(max_examples=int(os.environ.get("MONEY_EXAMPLES", "10")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stock=st.integers(0, 6), steps=st.lists(step, max_size=14))
def test_every_interleaving_keeps_the_books(world, store, stock, steps, monkeypatch):
    from eventstore.answers import Answers
    from inventory.stock import Stock
    from orders.aggregate import InvalidTransition
    from orders.service import VersionMismatch
    from eventstore.store import ConcurrencyError
    from saga.coordinator import SagaConflict

    orders, saga, payments, inventory = world
    n = next(COUNTER)
    sku, order_id = f"SKU-{n}", str(uuid.uuid4())
    Stock(store, aws.INVENTORY).set(sku, stock, caller=Caller("ops", "s"))
    who = Caller("cust", "corr")
    orders.place(customer_id="cust", items=[OrderItem(productId=sku, quantity=1, price=Decimal("10.00"))],
                 caller=who, order_id=order_id)
    log = []

    def customer(kind, quantity=2, price="1.00"):
        try:
            if kind == "update":
                v = orders.load(order_id).version
                orders.update_items(order_id, items=[OrderItem(productId=sku, quantity=quantity, price=Decimal(price))],
                                    expected_version=v, caller=who)
            else:
                orders.cancel(order_id, reason="changed my mind", expected_version=None, caller=who)
            log.append(kind)
        except (InvalidTransition, ConcurrencyError):
            log.append(f"{kind} refused")

    def all_events():
        return [e for s in streams(order_id) for e in store.load(s)]

    def deliver(event):
        if event.aggregateId.startswith("saga:"):
            (payments if event.eventType.startswith("PAYMENT") else inventory).handle(event)
        else:
            try:
                saga.handle(event)
            except SagaConflict:
                pass

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
            saga.time_out(order_id)
            log.append("sweep")
        elif kind == "race":
            real = saga.facts
            done = []

            def facts_then(oid, real=real, done=done, what=s[1]):
                found = real(oid)
                if not done:
                    done.append(1)
                    customer(what)
                return found

            monkeypatch.setattr(saga, "facts", facts_then)
            events = [e for e in all_events() if not e.aggregateId.startswith("saga:")]
            try:
                saga.handle(events[s[2] % len(events)])
            except SagaConflict:
                pass
            monkeypatch.undo()
            log.append(f"race {s[1]}")
        elif kind == "crash":
            events = [e for e in all_events() if e.aggregateId.startswith("saga:") and e.eventType.startswith("PAYMENT")]
            if events:
                def boom(*a, **k):
                    raise TimeoutError("died after the network answered")
                with monkeypatch.context() as p:
                    p.setattr(Answers, "answer", boom)
                    p.setattr(Answers, "undo", boom)
                    try:
                        payments.handle(events[s[1] % len(events)])
                    except TimeoutError:
                        pass
                log.append("crash")

    # drain: every stored event delivered again until nothing moves, then a final sweep
    for _ in range(12):
        before = len(all_events())
        for e in all_events():
            deliver(e)
        saga.time_out(order_id)
        if len(all_events()) == before:
            break

    order = orders.load(order_id)
    paid = sum((v for k, v in payments.network.moved.items()
                if k.split("#")[0] in (f"charge:{order_id}",) or
                k.split("#")[0].startswith("refund:pay-") and _refund_of(store, order_id, k)), Decimal("0"))
    twice = [k for k in payments.network.moved if "#" in k and order_id in k]
    item = boto3.client("dynamodb").get_item(TableName=aws.INVENTORY, Key={"productId": {"S": sku}})["Item"]
    reserved, available = int(item["reserved"]["N"]), int(item["available"]["N"])
    commands = [e.eventType for e in store.load(f"saga:{order_id}")]
    ctx = f"{log} -> {order.status.value} paid={paid} reserved={reserved} commands={commands}"
    assert len(commands) == len(set(commands)), ctx
    assert not twice, ctx
    assert available >= 0 and available + reserved == stock, ctx
    assert order.status.value in ("COMPLETED", "CANCELLED"), ctx
    if order.status.value == "COMPLETED":
        assert paid == order.totalAmount and reserved == sum(i.quantity for i in order.items), ctx
    else:
        assert paid == 0 and reserved == 0, ctx


def _refund_of(store, order_id, key):
    charged = store.load(f"payment:{order_id}", up_to_version=1)
    return bool(charged) and getattr(charged[0].payload, "paymentId", None) == key.split("#")[0][len("refund:"):]
