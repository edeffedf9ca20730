"""Runs the saga: read what the event store holds of the order, decide what is due, append it.

The saga keeps no state beside the event store: its facts are the order's four streams (the
order, the saga's own commands, the payment, the reservation), read strongly consistent, and
each step is one append. A command goes on the saga's stream at the next version, written only
if absent; the order's completion or cancellation on the order's stream the same way (the two
together in one transaction, when a cancellation comes with a refund or a release). Two runs
that both find a command due race for one version: the loser reads again and finds it asked.
A duplicate or late event finds nothing due. So the saga is exactly-once by the event store's
own condition: it keeps no idempotency record, and no state to keep in step with its events.
"""

from __future__ import annotations

from typing import Any

from catalog import Caller, Envelope, EventType, new_event
from common.observability import logger
from eventstore.answers import PAYMENTS, RESERVATIONS
from eventstore.sagas import saga_stream
from eventstore.store import ConcurrencyError, Contended, EventStore, GuardFailed
from orders.aggregate import InvalidTransition
from orders.service import OrderService
from saga.machine import Decision, Facts, decide

MAX_ATTEMPTS = 5
SAGA_USER = "order-saga"


class SagaConflict(RuntimeError):
    """The order kept changing under us; fail so the event is retried."""


class SagaCoordinator:
    def __init__(self, store: EventStore):
        self._store = store

    def handle(self, event: Envelope) -> dict[str, Any]:
        """Wake the saga of the event's order: whatever the event, the store says what is due."""
        return self._run(event.payload.orderId, trigger=event)

    def time_out(self, order_id: str) -> dict[str, Any]:
        """The sweep found this order pending too long."""
        return self._run(order_id, trigger=None)

    def facts(self, order_id: str) -> Facts:
        """The order's streams; the payment's and the reservation's only once they were asked for."""
        facts = Facts(order=self._store.load(order_id), commands=self._store.load(saga_stream(order_id)))
        if facts.asked(EventType.PAYMENT_REQUESTED):
            facts.payment = self._store.load(PAYMENTS.stream(order_id))
        if facts.asked(EventType.INVENTORY_RESERVATION_REQUESTED):
            facts.reservation = self._store.load(RESERVATIONS.stream(order_id))
        return facts

    def _run(self, order_id: str, trigger: Envelope | None) -> dict[str, Any]:
        for _ in range(MAX_ATTEMPTS):
            facts = self.facts(order_id)
            if facts.created is None:
                # Only an order the event store holds can be charged, completed or cancelled: an
                # event about any other, put on the bus by anyone, starts nothing.
                logger.warning("no saga for an order the event store does not hold", extra={"orderId": order_id})
                return {"orderId": order_id, "outcome": "ignored", "reason": "order not in the event store"}
            decision = decide(facts, timed_out=trigger is None)
            if not decision.changed:
                return {"orderId": order_id, "outcome": "no-change"}
            try:
                self._append(facts, decision, trigger)
            except (ConcurrencyError, Contended, GuardFailed, InvalidTransition):
                continue  # another run (or the customer) moved the order first: read again
            return {
                "orderId": order_id,
                "outcome": "moved",
                "emitted": [t.value for t, _ in decision.commands],
                **({"order": "cancelled"} if decision.cancel_order else {}),
                **({"order": "completed"} if decision.complete_order else {}),
            }
        raise SagaConflict(f"saga of order {order_id} kept changing during {MAX_ATTEMPTS} attempts")

    def _append(self, facts: Facts, decision: Decision, trigger: Envelope | None) -> None:
        created = facts.created
        if created is None:
            raise ValueError("the saga appends only for an order the event store holds")  # _run checked it
        order_id = created.payload.orderId
        caller = Caller(
            user_id=SAGA_USER,
            correlation_id=trigger.metadata.correlationId if trigger else created.metadata.correlationId,
            causation_id=str(trigger.eventId) if trigger else None,
        )
        events = [
            new_event(
                event_type,
                aggregate_id=saga_stream(order_id),
                payload=payload,
                version=len(facts.commands) + offset,
                user_id=caller.user_id,
                correlation_id=caller.correlation_id,
                causation_id=caller.causation_id,
            )
            for offset, (event_type, payload) in enumerate(decision.commands, start=1)
        ]
        checks = []
        if decision.complete_order or decision.cancel_order:
            # The order's own rules decide its last event (orders/service.py): the saga only
            # appends it, in the same transaction as its commands.
            events.append(
                OrderService.settlement(facts.order, cancel_reason=decision.cancel_order or None, caller=caller)
            )
        else:
            # Its commands are decided from the order as read (its total, its lines): written only
            # while the order is still at that version, or read again.
            checks.append(self._store.absent(order_id, facts.order[-1].version + 1))
        self._store.append(events, together_with=checks)
