"""Decides who gets which email for an event, sends it through SES, and records it.

The consumer keeps what it needs to address customers in its own table (EmailLog):
  contact#<userId>   email and name, from USER_REGISTERED
  sent#<eventId>     the email of that event: claimed (SENDING), SENT with SES's message id, or
                     SKIPPED with the reason
The customer of a later order event is the one its ORDER_CREATED names, read from the event
store (the order's first event, always there before any other).
An order event for a customer who never registered has nobody to write to: it is skipped
(recorded, and logged), not failed.

Once per event, by the sent# record alone: a run claims it (a write conditional on no claim,
or on a claim older than any run can live), sends, and marks it SENT. A repeat delivery finds
it SENT and sends nothing, however late it comes (a replay months on); one that comes while
another run holds the claim fails, so it is retried once that run is done. A send SES refuses
gives the claim back before failing, so the retry sends. As with any record kept beside an
effect outside the database, a run that dies between SES's answer and the mark leaves a claim
that expires, and the retry sends again: at least once in that window, never twice otherwise.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from catalog import Envelope, EventType
from common import clients
from eventstore.store import EventStore
from notifications.templates import TEMPLATES

# A claim's last write (SENT once the email is out; the claim given back when the send failed)
# is tried again when throttled past the SDK's own retries, for up to about 10 s: left undone, the
# claim would hold every retry of the event off until it lapsed (each retry parked as "claimed by
# a run still in progress"), and a run after that would send a sent email again.
SETTLE_ATTEMPTS = 7


def _through_throttling(write):
    for attempt in range(SETTLE_ATTEMPTS):
        try:
            return write()
        except ClientError as error:
            if clients.throttled(error) is None or attempt == SETTLE_ATTEMPTS - 1:
                raise
            time.sleep(min(4.0, 0.25 * 2**attempt))


# Longer than the function's 30 s timeout, so a live run keeps its claim; shorter than Lambda's
# first retry of a failed event (about a minute), so that retry finds a dead run's claim expired.
CLAIM_SECONDS = 45


class OrderUnknown(LookupError):
    """An order event about an order the event store does not hold: fail, so it is retried (and,
    if it never turns up, parked with the reason)."""


class EmailInProgress(RuntimeError):
    """Another run holds this event's claim: fail, so this delivery is retried after it."""


class SendFailed(RuntimeError):
    """SES did not take the email: fail, so the event is retried, then parked. Only SES's error
    code is kept: its message may name the recipient ("...failed the check in region
    US-EAST-1: <address>"), and this error is logged and is the dead letter's reason."""

    def __init__(self, event: Envelope, error: Exception):
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else type(error).__name__
        super().__init__(f"SES did not send the email of event {event.eventId}: {code}")
        self.code = code


class Mailer:
    def __init__(self, table_name: str, sender: str, store: EventStore, *, dynamodb=None, ses=None):
        self._table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)
        self._store = store
        self._sender = sender
        self._ses = ses or clients.client("ses")

    def handle(self, event: Envelope) -> dict[str, Any]:
        payload = event.payload
        match EventType(event.eventType):
            case EventType.USER_REGISTERED:
                # A user's stream holds one registration: its address is recorded once, and a
                # redelivery leaves the record as it is.
                self._record_once(f"contact#{payload.userId}", email=payload.email, name=payload.name)
                return self._send(event, payload.userId, userId=payload.userId)
            case EventType.ORDER_CREATED:
                lines = "\n".join(f"  {i.quantity} x {i.productId} at {i.price:.2f}" for i in payload.items)
                return self._send(
                    event,
                    payload.customerId,
                    orderId=payload.orderId,
                    lines=lines,
                    totalAmount=f"{payload.totalAmount:.2f}",
                    currency=payload.currency,
                )
            case EventType.ORDER_CANCELLED:
                return self._send(
                    event, self._customer_of(payload.orderId), orderId=payload.orderId, reason=payload.reason
                )
            case EventType.ORDER_COMPLETED:
                return self._send(event, self._customer_of(payload.orderId), orderId=payload.orderId)
        return {"outcome": "ignored"}

    def _customer_of(self, order_id: str) -> str:
        created = self._store.load(order_id, up_to_version=1)
        if not created or created[0].eventType != EventType.ORDER_CREATED:
            raise OrderUnknown(f"the event store holds no order {order_id}")
        return created[0].payload.customerId

    def _send(self, event: Envelope, user_id: str, **values: str) -> dict[str, Any]:
        key = f"sent#{event.eventId}"
        contact = self._table.get_item(Key={"id": f"contact#{user_id}"}, ConsistentRead=True).get("Item")
        if contact is None:
            reason = f"no email address known for {user_id}"
            self._record_once(key, status="SKIPPED", reason=reason, eventType=event.eventType)
            return {"outcome": "skipped", "reason": reason}
        claim = self._claim(key, event.eventType)
        if claim is not None:  # another run got here first
            return claim
        subject, body = TEMPLATES[EventType(event.eventType)].render(name=contact["name"], **values)
        try:
            response = self._ses.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [contact["email"]]},
                Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}},
            )
        except Exception as error:
            _through_throttling(
                lambda: self._table.delete_item(Key={"id": key}, ConditionExpression=Attr("status").eq("SENDING"))
            )
            raise SendFailed(event, error) from None  # not chained: the cause's text is SES's
        _through_throttling(
            lambda: self._table.update_item(
                Key={"id": key},
                UpdateExpression="SET #s = :sent, messageId = :m, #to = :to, subject = :subject",
                ExpressionAttributeNames={"#s": "status", "#to": "to"},
                ExpressionAttributeValues={
                    ":sent": "SENT",
                    ":m": response["MessageId"],
                    ":to": contact["email"],
                    ":subject": subject,
                },
            )
        )
        return {"outcome": "sent", "messageId": response["MessageId"]}  # no address: results are logged

    def _claim(self, key: str, event_type: str) -> dict[str, Any] | None:
        """Take the event's claim (None), or the outcome of the run that holds it or finished."""
        now = int(time.time())
        try:
            self._table.put_item(
                Item={
                    "id": key,
                    "status": "SENDING",
                    "claim": uuid.uuid4().hex,
                    "claimedUntil": now + CLAIM_SECONDS,
                    "eventType": event_type,
                    "at": datetime.now(UTC).isoformat(),
                },
                ConditionExpression=Attr("id").not_exists()
                | (Attr("status").eq("SENDING") & Attr("claimedUntil").lt(now)),
            )
            return None
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            pass
        done = self._table.get_item(Key={"id": key}, ConsistentRead=True).get("Item") or {}
        match done.get("status"):
            case "SENT":
                return {"outcome": "sent", "messageId": done["messageId"]}
            case "SKIPPED":
                return {"outcome": "skipped", "reason": done["reason"]}
        raise EmailInProgress(f"{key} is claimed by a run still in progress")

    def _record_once(self, key: str, **attributes: str) -> None:
        with contextlib.suppress(self._table.meta.client.exceptions.ConditionalCheckFailedException):
            self._table.put_item(  # or an earlier delivery recorded it
                Item={"id": key, **attributes, "at": datetime.now(UTC).isoformat()},
                ConditionExpression=Attr("id").not_exists(),
            )
