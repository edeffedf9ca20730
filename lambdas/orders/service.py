"""Order commands: load an order by replay, let the aggregate decide, append what it decided."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from itertools import chain

from catalog import Caller, Envelope, EventType, new_event
from catalog.payloads import OrderItem
from catalog.types import DEFAULT_CURRENCY
from eventstore.sagas import PAYMENT_ASKED, saga_stream
from eventstore.store import ConcurrencyError, EventStore, GuardFailed
from orders.aggregate import InvalidTransition, Order


class OrderNotFound(LookupError):
    def __init__(self, order_id: str):
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class VersionMismatch(ConcurrencyError):
    """The caller's expectedVersion is not the order's current version."""


class OrderClosed(InvalidTransition):
    """The order's payment has been asked for: its lines and total are what is being charged."""

    def __init__(self, order_id: str):
        super().__init__(
            f"cannot update order {order_id}: its payment has been requested, so its lines are closed; "
            "cancel it and place a new one"
        )


class OrderService:
    def __init__(self, store: EventStore):
        self._store = store

    def load(self, order_id: str, *, owner: str | None = None) -> Order:
        """The order by replay; OrderNotFound when there is none, or when an owner is given and
        it is not theirs (the same answer, so that another customer's ids cannot be probed)."""
        events = self._store.iter_events(order_id)
        first = next(events, None)
        if first is None or first.eventType != EventType.ORDER_CREATED:
            raise OrderNotFound(order_id)  # no stream, or one that is not an order's
        order = Order.replay(chain([first], events))
        if order is None or (owner is not None and order.customerId != owner):
            raise OrderNotFound(order_id)
        return order

    def place(
        self,
        *,
        customer_id: str,
        items: Iterable[OrderItem],
        caller: Caller,
        currency: str = DEFAULT_CURRENCY,
        order_id: str | None = None,
    ) -> Envelope:
        """A new order (a fresh id, or the one given: placing it again is then a ConcurrencyError
        on version 1, never a second order)."""
        order_id = order_id or str(uuid.uuid4())
        payload = Order.create(order_id=order_id, customer_id=customer_id, items=items, currency=currency)
        return self._append(EventType.ORDER_CREATED, order_id, payload, version=1, caller=caller)

    def update_items(
        self,
        order_id: str,
        *,
        items: Iterable[OrderItem] | Callable[[Order], Iterable[OrderItem]],
        expected_version: int,
        caller: Caller,
        owner: str | None = None,
    ) -> Envelope:
        """The order's new lines (or how to price them, given the order: orders/pricing.py), while
        it is open for changes: until the saga asks for its payment (docs/DECISIONS.md). Written on
        condition that the saga's request is not stored, in one transaction, so that a change and
        the request cannot both win: the saga charges the lines it read, or reads them again."""
        order = self._load_at(order_id, expected_version, owner)
        lines = items(order) if callable(items) else items
        event = _event(EventType.ORDER_UPDATED, order_id, order.update_items(lines), order.version + 1, caller)
        try:
            self._store.append([event], together_with=[self._store.absent(saga_stream(order_id), PAYMENT_ASKED)])
        except GuardFailed:
            raise OrderClosed(order_id) from None
        return event

    def cancel(
        self, order_id: str, *, reason: str, expected_version: int | None, caller: Caller, owner: str | None = None
    ) -> Envelope:
        order = self._load_at(order_id, expected_version, owner)
        return self._append(EventType.ORDER_CANCELLED, order_id, order.cancel(reason), order.version + 1, caller)

    def complete(self, order_id: str, *, expected_version: int | None, caller: Caller) -> Envelope:
        order = self._load_at(order_id, expected_version)
        return self._append(EventType.ORDER_COMPLETED, order_id, order.complete(), order.version + 1, caller)

    @staticmethod
    def settlement(history: Iterable[Envelope], *, cancel_reason: str | None, caller: Caller) -> Envelope:
        """The order's completion (or, given a reason, its cancellation) as the next event of its
        stream, as the aggregate decides it from the history given, not yet appended: for the saga,
        which appends it in one transaction with its own commands."""
        order = Order.replay(history)
        if order is None:
            raise OrderNotFound("(no history)")
        if cancel_reason is not None:
            return _event(
                EventType.ORDER_CANCELLED, order.orderId, order.cancel(cancel_reason), order.version + 1, caller
            )
        return _event(EventType.ORDER_COMPLETED, order.orderId, order.complete(), order.version + 1, caller)

    def _load_at(self, order_id: str, expected_version: int | None, owner: str | None = None) -> Order:
        order = self.load(order_id, owner=owner)
        if expected_version is not None and order.version != expected_version:
            raise VersionMismatch(order_id, order.version)
        return order

    def _append(self, event_type: EventType, order_id: str, payload, version: int, caller: Caller) -> Envelope:
        event = _event(event_type, order_id, payload, version, caller)
        self._store.append([event])
        return event


def _event(event_type: EventType, order_id: str, payload, version: int, caller: Caller) -> Envelope:
    return new_event(
        event_type,
        aggregate_id=order_id,
        payload=payload,
        version=version,
        user_id=caller.user_id,
        correlation_id=caller.correlation_id,
        causation_id=caller.causation_id,
    )
