"""The order aggregate and its read model, driven by hypothesis through the real code on moto:
the order's service (commands, optimistic concurrency on the event store) and the projection
(the read model fed from the bus).

Callers race: each command carries the version its caller last saw, often stale. The bus
delivers the order's events at least once, in any order, any number of times. Whatever
happens:
- the event store holds versions 1..n with no gap, at most one terminal event (completed or
  cancelled), and it is the last: a stale or late command appends nothing;
- every order total is the exact sum of its lines;
- the read model only ever holds a state the order really had (the fold of a prefix of its
  stream), never goes back, and once every event has been delivered, in whatever order, it
  equals the order replayed from the store: the same final state as in-order delivery.
"""

import random
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from catalog import Caller, EventType
from catalog.payloads import OrderItem
from eventstore.store import ConcurrencyError, EventStore
from orders.aggregate import InvalidTransition, Order, OrderStatus
from orders.read_model import OrdersReadModel
from orders.service import OrderService, VersionMismatch
from projection.projector import OrderProjector, Outcome
from tests.support import aws
from tests.support.properties import examples

CALLER = Caller(user_id="cust-1", correlation_id="corr-1")
TERMINAL = {EventType.ORDER_COMPLETED, EventType.ORDER_CANCELLED}

lines = st.lists(
    st.builds(
        OrderItem,
        productId=st.sampled_from(["SKU-1", "SKU-2", "SKU-3"]),
        quantity=st.integers(1, 5),
        price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2),
    ),
    min_size=1,
    max_size=4,
)


class OrderLife(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = EventStore(aws.EVENT_STORE)
        self.orders = OrderService(self.store)
        self.read_model = OrdersReadModel(aws.ORDERS)
        self.projector = OrderProjector(self.read_model, self.store)
        self.order_id = f"order-{uuid.uuid4().hex[:12]}"  # each run its own order, in the same tables
        self.stream = []  # the events the service appended, in version order
        self.seen_version = 0  # the read model's version: it never goes back

    @property
    def version(self) -> int:
        return len(self.stream)

    @property
    def order(self) -> Order:
        replayed = Order.replay(self.stream)
        assert replayed is not None, "the machine's order is created first"
        return replayed

    @initialize(items=lines)
    def place(self, items):
        self.stream.append(self.orders.place(customer_id="cust-1", items=items, caller=CALLER, order_id=self.order_id))

    # ---- commands, each with the version its caller saw (the current one, or a stale one) ----

    def _command(self, run, expected: int | None, allowed_without_version: bool = True):
        open_ = self.order.status is OrderStatus.PENDING
        current = expected == self.version or (expected is None and allowed_without_version)
        try:
            event = run(expected)
        except VersionMismatch:
            assert not current, "a command at the current version was refused as stale"
            return
        except InvalidTransition:
            assert not open_, "a command on an open order was refused"
            return
        assert current and open_, f"a command at version {expected} of a {self.order.status} order was taken"
        assert event.version == self.version + 1
        self.stream.append(event)

    @rule(items=lines, behind=st.integers(0, 3))
    def update(self, items, behind):
        self._command(
            lambda expected: self.orders.update_items(
                self.order_id, items=items, expected_version=expected, caller=CALLER
            ),
            max(1, self.version - behind),
            False,
        )

    @rule(behind=st.one_of(st.none(), st.integers(0, 3)))
    def cancel(self, behind):
        expected = None if behind is None else max(1, self.version - behind)
        self._command(
            lambda v: self.orders.cancel(self.order_id, reason="changed my mind", expected_version=v, caller=CALLER),
            expected,
        )

    @rule(behind=st.one_of(st.none(), st.integers(0, 3)))
    def complete(self, behind):
        expected = None if behind is None else max(1, self.version - behind)
        self._command(lambda v: self.orders.complete(self.order_id, expected_version=v, caller=CALLER), expected)

    @rule()
    def second_placement(self):
        """Placing the same order again (a retried POST with its Idempotency-Key) appends nothing."""
        with pytest.raises(ConcurrencyError):
            self.orders.place(
                customer_id="cust-1", items=self.stream[0].payload.items, caller=CALLER, order_id=self.order_id
            )

    # ---- the bus: any event, again and again, in any order ----------------------------------

    @rule(data=st.data())
    def deliver(self, data):
        event = data.draw(st.sampled_from(self.stream))
        self._deliver(event)

    @precondition(lambda self: self.version > 1)
    @rule(seed=st.integers(0, 2**32 - 1))
    def deliver_everything_shuffled(self, seed):
        events = list(self.stream) * 2
        random.Random(seed).shuffle(events)
        for event in events:
            self._deliver(event)
        assert self._view().order == self.order  # every event delivered: as if in order

    def _deliver(self, event):
        before = self.seen_version
        outcome = self.projector.apply(event)
        if event.version <= before:
            assert outcome is Outcome.ALREADY_APPLIED
        else:
            assert outcome is (Outcome.APPLIED if event.version == before + 1 else Outcome.CAUGHT_UP)
        self.seen_version = max(before, event.version)

    def _view(self):
        return self.read_model.get(self.order_id, consistent=True)

    # ---- what always holds -------------------------------------------------------------------

    @invariant()
    def the_store_holds_the_stream(self):
        stored = self.store.load(self.order_id)
        assert [e.eventId for e in stored] == [e.eventId for e in self.stream]
        assert [e.version for e in stored] == list(range(1, len(stored) + 1))

    @invariant()
    def at_most_one_ending_and_it_is_the_last(self):
        endings = [i for i, e in enumerate(self.stream) if e.eventType in TERMINAL]
        assert endings in ([], [len(self.stream) - 1])

    @invariant()
    def totals_are_exact(self):
        for event in self.stream:
            if event.eventType in (EventType.ORDER_CREATED, EventType.ORDER_UPDATED):
                assert event.payload.totalAmount == sum((i.price * i.quantity for i in event.payload.items), Decimal(0))

    @invariant()
    def the_read_model_holds_a_state_the_order_had(self):
        view = self._view()
        if view is None:
            assert self.seen_version == 0
            return
        assert view.order.version == self.seen_version
        assert view.order == Order.replay(self.stream[: view.order.version])


@pytest.fixture
def tables():
    with aws.moto():
        aws.create_tables()
        yield


def test_any_interleaving_of_commands_and_deliveries_ends_as_in_order_delivery(tables):
    run_state_machine_as_test(
        OrderLife,
        settings=settings(
            max_examples=examples(40),
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
