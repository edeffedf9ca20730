"""Runs the saga: load its state, decide, and write the outcome in one transaction.

One TransactWriteItems holds the new saga state (conditional on the version it was read at),
the ids of the events it has handled, the commands it emits (on its own stream in the event
store, so the outbox publishes them) and the order's completion or cancellation. A duplicate
or concurrent delivery loses the condition and is re-read, then finds its event handled: it
never moves the saga twice. An event that moves nothing is recorded as handled all the same.
That makes the saga exactly-once by its own writes: it keeps no idempotency record.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3

from catalog import Envelope, EventType, new_event
from common.api import Caller
from common.observability import logger
from eventstore.store import ConcurrencyError, EventStore, GuardFailed
from orders.aggregate import InvalidTransition, Order, OrderStatus
from orders.service import OrderNotFound, OrderService
from saga.machine import TIMEOUT, Decision, SagaState, Status, decide, start

MAX_ATTEMPTS = 5
SAGA_USER = "order-saga"


class SagaConflict(RuntimeError):
    """The saga kept changing under us; fail so the event is retried."""


class SagaRepository:
    def __init__(self, table_name: str, *, client=None):
        self.table_name = table_name
        self._client = client or boto3.client("dynamodb")

    def get(self, order_id: str) -> tuple[SagaState | None, set[str], str | None]:
        """The saga's state, the events it has handled, and since when it has been waiting."""
        item = self._client.get_item(TableName=self.table_name, Key={"orderId": {"S": order_id}},
                                     ConsistentRead=True).get("Item")
        if item is None:
            return None, set(), None
        handled = set(item.get("handled", {}).get("SS", []))
        return SagaState.model_validate_json(item["state"]["S"]), handled, item.get("waitingSince", {}).get("S")

    def write(self, state: SagaState, previous_version: int, handled: set[str], waiting_since: str | None = None) -> dict:
        """The conditional put of the new state, as a transaction action."""
        now = datetime.now(timezone.utc).isoformat()
        item: dict[str, Any] = {
            "orderId": {"S": state.orderId},
            "state": {"S": state.model_dump_json()},
            "status": {"S": state.status.value},
            "step": {"S": state.step.value},
            "version": {"N": str(state.version)},
            "updatedAt": {"S": now},
        }
        if handled:
            item["handled"] = {"SS": sorted(handled)}
        # The sparse index: only a waiting saga is swept for its timeout. It keeps the time it
        # started waiting from step to step, so its index entry is written once and deleted once.
        if state.waiting:
            item["waitingSince"] = {"S": waiting_since or now}
        put: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if previous_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(orderId)"
        else:
            put["ConditionExpression"] = "version = :previous"
            put["ExpressionAttributeValues"] = {":previous": {"N": str(previous_version)}}
        return {"Put": put}

    def put(self, action: dict) -> None:
        """Write a state change that emits nothing (a compensation confirmed)."""
        try:
            self._client.put_item(**action["Put"])
        except self._client.exceptions.ConditionalCheckFailedException:
            raise GuardFailed(0) from None

    def waiting_since_before(self, cutoff: datetime, index: str = "waiting") -> list[str]:
        """Order ids of sagas waiting on their steps since before cutoff."""
        pages = self._client.get_paginator("scan").paginate(
            TableName=self.table_name, IndexName=index,
            FilterExpression="waitingSince < :cutoff",
            ExpressionAttributeValues={":cutoff": {"S": cutoff.isoformat()}},
        )
        return [item["orderId"]["S"] for page in pages for item in page["Items"]]


class SagaCoordinator:
    def __init__(self, repository: SagaRepository, store: EventStore):
        self._sagas = repository
        self._store = store
        self._orders = OrderService(store)

    def handle(self, event: Envelope) -> dict[str, Any]:
        """Apply one bus event to its order's saga."""
        order_id = event.payload.orderId
        if event.eventType == EventType.ORDER_CREATED and not self._store.load(order_id, up_to_version=1):
            # Only an order the event store holds can be charged, completed or cancelled: an
            # ORDER_CREATED put on the bus by anyone else starts nothing.
            logger.warning("no saga for an order the event store does not hold", extra={"orderId": order_id})
            return {"orderId": order_id, "outcome": "ignored", "reason": "order not in the event store"}
        return self._transition(order_id, event.eventType, event.payload, trigger=event)

    def overdue(self, cutoff: datetime) -> list[str]:
        return self._sagas.waiting_since_before(cutoff)

    def time_out(self, order_id: str) -> dict[str, Any]:
        """The sweep found this saga waiting too long."""
        return self._transition(order_id, TIMEOUT, None, trigger=None)

    def _transition(self, order_id: str, event_type: str, payload, trigger: Envelope | None) -> dict[str, Any]:
        for _ in range(MAX_ATTEMPTS):
            state, handled, waiting_since = self._sagas.get(order_id)
            if trigger is not None and str(trigger.eventId) in handled:
                return {"orderId": order_id, "outcome": "already-handled"}
            if state is None:
                if trigger is None:
                    return {"orderId": order_id, "outcome": "no-saga"}
                state = start(trigger)
            decision = decide(state, event_type, payload)
            # The order is read once per attempt, and only when the decision touches it.
            order = self._order_or_none(order_id) if decision.complete_order or decision.cancel_order else None
            if decision.complete_order and order is not None and order.status is OrderStatus.CANCELLED:
                # The customer cancelled while we reserved: decide again knowing it.
                state = state.model_copy(update={"orderCancelled": True, "cancelReason": order.cancelReason,
                                                 "status": Status.CANCELLED})
                decision = decide(state, event_type, payload)
            moves = decision.changed or decision.state != state
            try:
                if moves:
                    self._write(state, decision, handled, trigger, order, waiting_since)
                elif trigger is not None:  # nothing to do, but say the event was seen: it is handled
                    self._sagas.put(self._sagas.write(state.model_copy(update={"version": state.version + 1}),
                                                      state.version, handled | {str(trigger.eventId)}, waiting_since))
            except (ConcurrencyError, GuardFailed, InvalidTransition):
                continue  # someone else moved the saga or the order: read again
            if not moves:
                return {"orderId": order_id, "outcome": "no-change", "status": state.status.value}
            return {"orderId": order_id, "outcome": "moved", "status": decision.state.status.value,
                    "step": decision.state.step.value, "emitted": [t.value for t, _ in decision.commands]}
        raise SagaConflict(f"saga of order {order_id} kept changing during {MAX_ATTEMPTS} attempts")

    def _order_or_none(self, order_id: str):
        try:
            return self._orders.load(order_id)
        except OrderNotFound:  # a saga from before the start check; never fail (and retry) forever on it
            logger.warning("saga moves without its order: not in the event store", extra={"orderId": order_id})
            return None

    def _write(self, before: SagaState, decision: Decision, handled: set[str], trigger: Envelope | None,
               order: Order | None, waiting_since: str | None) -> None:
        caller = Caller(
            user_id=SAGA_USER,
            correlation_id=trigger.metadata.correlationId if trigger else before.correlationId,
            causation_id=str(trigger.eventId) if trigger else None,
        )
        events = [
            new_event(event_type, aggregate_id=f"saga:{before.orderId}", payload=payload,
                      version=before.commands + offset, user_id=caller.user_id,
                      correlation_id=caller.correlation_id, causation_id=caller.causation_id)
            for offset, (event_type, payload) in enumerate(decision.commands, start=1)
        ]
        if order is not None and (decision.cancel_order or decision.complete_order):
            if decision.complete_order:
                payload, event_type = order.complete(), EventType.ORDER_COMPLETED
            elif order.status is OrderStatus.CANCELLED:
                payload = None  # the customer got there first; nothing to append
            else:
                payload, event_type = order.cancel(decision.cancel_order), EventType.ORDER_CANCELLED
            if payload is not None:
                events.append(new_event(event_type, aggregate_id=before.orderId, payload=payload,
                                        version=order.version + 1, user_id=caller.user_id,
                                        correlation_id=caller.correlation_id, causation_id=caller.causation_id))
        after = decision.state.model_copy(update={"version": before.version + 1,
                                                  "commands": before.commands + len(decision.commands)})
        seen = handled | ({str(trigger.eventId)} if trigger else set())
        guard = self._sagas.write(after, before.version, seen, waiting_since)
        if events:
            self._store.append(events, guards=[guard])
        else:
            self._sagas.put(guard)
