"""SPIKE (issue 32, ask 4): the order saga as one AWS Lambda durable function.

Not the platform's saga. It covers the happy path (charge, reserve, complete) and one
compensation (reservation insufficient -> refund -> cancel), plus a declined charge -> cancel so
that no order is left pending. It reuses the platform's own classes for every effect that
matters for money and stock, so the exactly-once guarantees are the platform's, not the SDK's:

  charge / refund : payments.provider.PaymentProvider (PaymentCalls record before the call, the
                    card network's idempotency key, the answer on `payment:<orderId>` v1 / v2,
                    each written only if absent)
  reserve         : inventory.reservations.Reservations (one TransactWriteItems: the answer on
                    `reservation:<orderId>` v1 with the stock's conditional update)
  complete/cancel : orders.service.OrderService.settlement, appended to the order's stream

What it does NOT write: the saga's commands (PAYMENT_REQUESTED, INVENTORY_RESERVATION_REQUESTED,
PAYMENT_REFUND_REQUESTED) on `saga:<orderId>`. They become in-memory envelopes handed to the
provider / reservations in-process (with deterministic event ids, so a re-run step asks with the
same id). Consequences are listed in spikes/durable_saga/README.md.

Deployed into the local cloud as its own function (code: lambdas/ + this module + the vendored
aws-durable-execution-sdk-python 2.0.1) by spikes/durable_saga/deploy.py.
"""

from __future__ import annotations

import os
import time
import uuid
from functools import cache
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution, durable_step
from aws_durable_execution_sdk_python.config import StepConfig, StepSemantics
from aws_durable_execution_sdk_python.retries import RetryPresets

from catalog import Caller, EventType, new_event
from catalog.payloads import InventoryReservationRequested, PaymentRefundRequested, PaymentRequested
from eventstore.sagas import saga_stream
from eventstore.store import ConcurrencyError
from orders.aggregate import Order
from orders.service import OrderService
from saga.machine import merged_lines

SAGA_USER = "order-saga"
REQUESTS = uuid.UUID("0d7c1a2e-5b7e-4c7a-9a61-2f3c4b5d6e7f")  # namespace of the in-memory requests' ids


@cache
def _payments():
    from payments import handler  # its Settings: EVENT_STORE_, PAYMENT_CALLS_, CARD_NETWORK_TABLE_NAME

    return handler.provider()


@cache
def _reservations():
    from inventory import handler  # its Settings: INVENTORY_TABLE_NAME, EVENT_STORE_TABLE_NAME

    return handler.reservations()


def _store():
    from payments import handler

    return handler.event_store()


def _request(event_type: EventType, order_id: str, payload, version: int, correlation_id: str):
    """The command the choreographed saga would append, built in memory only, with an id fixed by
    the order and the command (a re-run step asks with the same id)."""
    event = new_event(event_type, aggregate_id=saga_stream(order_id), payload=payload, version=version,
                      user_id=SAGA_USER, correlation_id=correlation_id)
    return event.model_copy(update={"eventId": uuid.uuid5(REQUESTS, f"{order_id}:{event_type.value}")})


# ---- steps: each returns plain JSON (what the checkpoint keeps) -------------------------------


@durable_step
def load_order(_: StepContext, order_id: str) -> dict[str, Any]:
    history = _store().load(order_id)
    order = Order.replay(history)
    if order is None:
        return {"found": False}
    return {
        "found": True,
        "orderId": order.orderId,
        "customerId": order.customerId,
        "amount": str(order.totalAmount),
        "currency": order.currency,
        "lines": [line.model_dump(mode="json") for line in merged_lines(order.items)],
        "correlationId": history[0].metadata.correlationId,
        "status": str(getattr(order, "status", "")),
    }


@durable_step
def charge(_: StepContext, order: dict) -> dict[str, Any]:
    payload = PaymentRequested(orderId=order["orderId"], customerId=order["customerId"], amount=order["amount"],
                               currency=order["currency"])
    request = _request(EventType.PAYMENT_REQUESTED, order["orderId"], payload, 1, order["correlationId"])
    _payments().handle(request)  # PaymentCalls + network key + the answer on payment:<orderId> v1
    answer = _payments()._answers.answered(order["orderId"])  # the stored answer, whoever wrote it
    if answer.eventType == EventType.PAYMENT_PROCESSED:
        p = answer.payload
        return {"charged": True, "paymentId": p.paymentId, "amount": str(p.amount), "currency": p.currency}
    return {"charged": False, "reason": answer.payload.reason}


@durable_step
def reserve(_: StepContext, order: dict) -> dict[str, Any]:
    payload = InventoryReservationRequested(orderId=order["orderId"], lines=order["lines"])
    request = _request(EventType.INVENTORY_RESERVATION_REQUESTED, order["orderId"], payload, 2, order["correlationId"])
    _reservations().reserve(request)  # the same TransactWriteItems as InventoryReservations
    answer = _reservations()._answers.answered(order["orderId"])
    if answer.eventType == EventType.INVENTORY_UPDATED:
        return {"reserved": True}
    short = ", ".join(f"{line.productId} short by {line.quantity}" for line in answer.payload.shortLines)
    return {"reserved": False, "reason": f"insufficient stock: {short}"}


@durable_step
def refund(_: StepContext, order: dict, paid: dict, reason: str) -> dict[str, Any]:
    payload = PaymentRefundRequested(orderId=order["orderId"], paymentId=paid["paymentId"], amount=paid["amount"],
                                     currency=paid["currency"], reason=reason)
    request = _request(EventType.PAYMENT_REFUND_REQUESTED, order["orderId"], payload, 3, order["correlationId"])
    return _payments().handle(request)  # refund:<paymentId> key, PAYMENT_REFUNDED as payment:<orderId> v2


@durable_step
def settle(_: StepContext, order: dict, cancel_reason: str | None) -> dict[str, Any]:
    """ORDER_COMPLETED or ORDER_CANCELLED on the order's stream, at its next version, only if absent."""
    store = _store()
    for _attempt in range(3):
        history = store.load(order["orderId"])
        if any(e.eventType in (EventType.ORDER_COMPLETED, EventType.ORDER_CANCELLED) for e in history):
            return {"order": "already-settled"}
        caller = Caller(user_id=SAGA_USER, correlation_id=order["correlationId"])
        try:
            store.append([OrderService.settlement(history, cancel_reason=cancel_reason, caller=caller)])
        except ConcurrencyError:
            continue  # the customer changed or cancelled it meanwhile: read again
        return {"order": "cancelled" if cancel_reason else "completed"}
    raise RuntimeError(f"order {order['orderId']} kept changing")


# ---- the workflow ----------------------------------------------------------------------------

# The charge keeps the SDK's default (at-least-once per retry, default retries): a repeat is safe
# because PaymentProvider calls the network at most once per request key (PaymentCalls + the
# network's idempotency key) and answers once (payment:<orderId> v1 only if absent).
# SPIKE_CHARGE_SEMANTICS=at-most-once: the variant AWS's docs give for a non-idempotent call
# (START checkpointed synchronously before the call; no retry; an interrupted attempt fails the step).
CHARGE = (StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=RetryPresets.none())
          if os.environ.get("SPIKE_CHARGE_SEMANTICS") == "at-most-once" else StepConfig())


def _measured(durable_handler):
    """The meter reads CPU from /proc/<pid>/task/*/schedstat, which loses the time of threads that
    have exited, and the SDK runs the workflow in a ThreadPoolExecutor made and shut down per
    invocation: so the process's own CPU clock (every thread, exited ones too) is appended, one
    line per invocation, to SPIKE_CPU_FILE, which run.py reads. Local measurement only."""
    path = os.environ.get("SPIKE_CPU_FILE")

    def handler(event, context):
        started = time.process_time()
        try:
            return durable_handler(event, context)
        finally:
            if path:
                with open(path, "a") as out:
                    out.write(f"{time.process_time() - started:.6f}\n")

    return handler


@durable_execution
def workflow(event: dict, context: DurableContext) -> dict[str, Any]:
    order_id = event["orderId"]
    order = context.step(load_order(order_id), name="load-order")
    if not order["found"]:
        return {"orderId": order_id, "outcome": "ignored"}
    paid = context.step(charge(order), name="charge", config=CHARGE)
    if not paid["charged"]:
        context.step(settle(order, f"payment declined: {paid['reason']}"), name="cancel")
        return {"orderId": order_id, "outcome": "cancelled", "reason": "declined"}
    held = context.step(reserve(order), name="reserve")
    if held["reserved"]:
        context.step(settle(order, None), name="complete")
        return {"orderId": order_id, "outcome": "completed"}
    context.step(refund(order, paid, held["reason"]), name="refund")
    context.step(settle(order, held["reason"]), name="cancel")
    return {"orderId": order_id, "outcome": "cancelled", "reason": held["reason"]}


handler = _measured(workflow)
